"""Which precision a run trains in, and why: decided when the run starts, said in its record.

A CUDA GPU trains in mixed precision (autocast). On a CPU, ``fp32`` and ``bf16`` are what they say; ``auto`` takes
bfloat16 only where the CPU computes it natively (`hardware.native_bf16`) and a short calibration, a few real
training steps of this backbone at this size in fp32 and in bf16, finds bf16 faster. The calibration is kept per
machine, torch version and setting (`hardware.Measurements`), so it is paid once. A run too small to repay it
(a few seconds of training) keeps fp32 without timing anything.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import torch

from workbench.models.backbones import get_backbone
from workbench.models.freezing import param_groups, set_freeze_depth
from workbench.spec.config import RunConfig
from workbench.training.calibrate import step_flops
from workbench.training.feature_cache import cache_blocker
from workbench.training.hardware import Measurements, machine, native_bf16, peak_flops
from workbench.training.measuring import may_measure, one_at_a_time
from workbench.training.optim import make_optimizer
from workbench.training.step import TrainStep

FASTER = 1.05  # auto takes bf16 when a step in it is at least this many times as fast as in fp32
CALIBRATION_S = 1.0  # about this many seconds of timed steps in each precision
MIN_STEPS, MAX_STEPS = 2, 20  # timed steps in each precision, after one to warm up
CLASSES = 10  # the calibration's head (its size barely matters beside the backbone's)
# A run of fewer training FLOPs takes a few seconds: the calibration (about 2 s) would cost what bf16 could save.
MIN_CALIBRATED_FLOPS = 2e10
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32", "bf16" (autocast on the CPU) or "mixed" (CUDA autocast)
    reason: str  # one sentence: why this one

    @property
    def cpu_bf16(self) -> bool:
        return self.name == "bf16"


def choose_precision(config: RunConfig, device: torch.device, store: Measurements | None = None,
                     on_calibrate: Callable[[], None] | None = None, train_images: int | None = None) -> Precision:
    """The precision ``config`` trains in on ``device``, and why (``on_calibrate`` hears that a calibration starts;
    ``train_images``, where known, lets a run too small to repay a calibration skip it)."""
    if device.type == "cuda":
        return Precision("mixed", "a CUDA GPU trains in mixed precision (CUDA autocast: bf16 where the GPU has it, "
                                  "else fp16 with loss scaling)")
    flags = native_bf16()
    if config.precision == "fp32":
        return Precision("fp32", "fp32 was asked for")
    if config.precision == "bf16":
        return Precision("bf16", f"bf16 was asked for; this CPU has native bfloat16 ({', '.join(flags)})" if flags
                         else "bf16 was asked for; this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16), so "
                              "it is emulated: slow emulation, expect slower steps than fp32")
    if not flags:
        return Precision("fp32", "auto: this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 in its flags)")
    flops = None if train_images is None else training_flops(config, train_images)
    if flops is not None and flops < MIN_CALIBRATED_FLOPS:
        return Precision("fp32", f"auto: native bfloat16 ({', '.join(flags)}), but this run trains only "
                                 f"{flops / 1e9:.1f} GFLOPs, a few seconds: timing bf16 against fp32 would cost more "
                                 f"than bf16 could save")
    seconds, measured = calibration(config, device, store, on_calibrate)
    ratio = seconds["fp32"] / max(seconds["bf16"], 1e-12)
    timed = (f"a step of {config.backbone} at {config.image_size} px took {seconds['fp32']:.3f} s in fp32 and "
             f"{seconds['bf16']:.3f} s in bf16 ({'timed now' if measured else 'timed earlier on this machine'})")
    if ratio >= FASTER:
        return Precision("bf16", f"auto: native bfloat16 ({', '.join(flags)}) and bf16 {ratio:.2f}x as fast: {timed}")
    return Precision("fp32", f"auto: native bfloat16 ({', '.join(flags)}) but bf16 not faster ({ratio:.2f}x): {timed}")


def bf16_speedup(config: RunConfig, train_images: int, measure: bool = True) -> float:
    """How many times faster ``config``'s training steps run in the precision `choose_precision` picks on this CPU
    than in fp32 (what an estimate, calibrated in fp32, divides them by): 1 where it picks fp32, or where no
    calibration is kept and ``measure`` is False."""
    cpu = torch.device("cpu")
    if config.precision == "fp32" or (config.precision == "auto" and not native_bf16()):
        return 1.0
    if not measure and kept_calibration(config, cpu, Measurements()) is None:  # from a kept calibration only
        return 1.0
    if choose_precision(config, cpu, train_images=train_images).name != "bf16":
        return 1.0
    seconds, _ = calibration(config, cpu)  # kept by now, unless bf16 was asked for
    return seconds["fp32"] / max(seconds["bf16"], 1e-12)


def training_flops(config: RunConfig, train_images: int) -> float:
    """About what ``config``'s training steps compute over all its epochs (at its starting freeze depth)."""
    start = config.freeze_depth if features_cached(config) else 0
    return train_images * config.epochs * step_flops(config.backbone, config.image_size, CLASSES,
                                                     config.freeze_depth, start)


def features_cached(config: RunConfig) -> bool:
    """Whether a step starts after the frozen stages, from their cached output (what a run's first epoch does)."""
    frozen = SimpleNamespace(freeze_depth=config.freeze_depth)  # all `cache_blocker` reads of a model
    return cache_blocker(frozen, config.cache_features, config.bn_policy, config.augment) is None


def calibration_key(config: RunConfig, device: torch.device) -> dict:
    """What the answer of a calibration depends on."""
    return {**machine(device), "backbone": config.backbone, "image_size": config.image_size,
            "batch_size": config.batch_size, "freeze_depth": config.freeze_depth,
            "features_cached": features_cached(config), "channels_last": config.channels_last,
            "optimizer": config.optimizer}


def calibration(config: RunConfig, device: torch.device, store: Measurements | None = None,
                on_calibrate: Callable[[], None] | None = None) -> tuple[dict[str, float], bool]:
    """({"fp32": s, "bf16": s} per step, whether it was measured now): from the cache, else timed and kept."""
    store = store or Measurements()
    if (seconds := kept_calibration(config, device, store)) is not None:
        return seconds, False
    may_measure()  # (before the lock: a page that may not measure never waits for another's measurement)
    with one_at_a_time:  # one calibration at a time in a process (a page's quick settings, an estimate, a run)
        if (seconds := kept_calibration(config, device, store)) is not None:  # measured while this thread waited
            return seconds, False
        if on_calibrate:
            on_calibrate()
        seconds = step_seconds(config)
        store.put("precision_calibration", calibration_key(config, device), seconds)
    return seconds, True


def kept_calibration(config: RunConfig, device: torch.device, store: Measurements) -> dict[str, float] | None:
    cached = store.get("precision_calibration", calibration_key(config, device))
    if isinstance(cached, dict) and all(isinstance(cached.get(p), (int, float)) for p in PRECISIONS):
        return {p: float(cached[p]) for p in PRECISIONS}
    return None


def step_seconds(config: RunConfig) -> dict[str, float]:
    """Median seconds of one real training step (forward, backward, optimizer) of ``config``'s network in fp32 and
    in bf16 on the CPU, the two alternating so that a change of the machine's load hits both alike.

    Random weights and images of the run's size and batch; the global random state is left as it was.
    """
    cpu = torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = get_backbone(config.backbone).build(pretrained=False, num_classes=CLASSES)
        set_freeze_depth(model, config.freeze_depth, config.bn_policy)
        x = torch.randn(config.batch_size, 3, config.image_size, config.image_size)
        if config.channels_last:
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        start = config.freeze_depth if features_cached(config) else 0
        if start:
            with torch.no_grad():
                x = model.features(x, 0, start)
        y = torch.arange(config.batch_size) % CLASSES
        optimizer = make_optimizer(param_groups(model, config.lr, config.lr_backbone_mult, config.layer_decay),
                                   config.optimizer, config.lr, config.weight_decay, config.momentum)
        model.train()
        steps = {"fp32": TrainStep(model, optimizer, cpu, False), "bf16": TrainStep(model, optimizer, cpu, True)}
        for step in steps.values():  # warm-up: first-call allocations and kernel choices
            step(x, y, start)
        times: dict[str, list[float]] = {name: [] for name in steps}
        started = time.perf_counter()
        while len(times["bf16"]) < MIN_STEPS or (time.perf_counter() - started < 2 * CALIBRATION_S
                                                 and len(times["bf16"]) < MAX_STEPS):
            for name, step in steps.items():
                t0 = time.perf_counter()
                step(x, y, start)
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


def precision_environment(precision: Precision, device: torch.device) -> dict:
    """What a record says of its precision: which, why, and the peak FLOP/s its hardware use is measured against."""
    peak, measured = peak_flops(device, precision.name)
    return {"precision": precision.name, "precision_reason": precision.reason, "peak_flops_per_s": peak,
            "peak_measured_with": measured}

