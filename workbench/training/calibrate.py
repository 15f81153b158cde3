"""How fast this machine trains a backbone, measured once and kept: what an estimate divides its FLOPs by.

A calibration is a second or two of real fp32 work on random images at a run's image size and batch size:
a few full training steps (FLOPs per second when everything trains), a few steps of the head alone (what a
step costs besides its FLOPs: the optimizer, Python, the loss) and inference at a few batch sizes (FLOPs per
second of evaluation and of caching frozen stages, at the batch that runs them fastest here, which they then
use). It is kept in ``estimate-rates.json`` in the cache folder (`settings.cache_dir`), keyed by the CPU, its
cores, torch, the backbone, the image size, the batch size and the threads, and measured again when it is older
than a month or was taken while other programs loaded the CPU.

The FLOPs themselves are counted by the project's own counter (`training.cost`) on the real network built on
PyTorch's ``meta`` device: shapes only, no arithmetic, so counting a ResNet-50 step costs a fraction of a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, ContextManager

import torch
import torch.nn.functional as F

from workbench.core import settings
from workbench.core.files import write_atomically
from workbench.models.backbones import get_backbone
from workbench.models.freezing import param_groups, set_freeze_depth
from workbench.training.cost import CpuMeter, count_flops
from workbench.training.hardware import cpu_model
from workbench.training.measuring import may_measure, one_at_a_time
from workbench.training.optim import make_optimizer
from workbench.training.step import TrainStep

VERSION = 4  # a change in what is measured makes every kept calibration stale
STALE_AFTER_S = 30 * 24 * 3600
LOADED_SHARE = 0.25  # other programs used more than this share of the CPU while it measured: measure again
LOADED_RETRY_S = 3600  # ... but not more often than this, on a machine that is always busy
MIN_TIMED_S = 0.6  # each timed part runs at least this long (and at least two steps)
WARMUP_STEPS = 5  # a first step's extra, at most (a process's very first one also pays for imports)
# Inference on a CPU is fastest at a batch whose activations stay in the caches: Lite0 at 128 px ran 4.8 ms an image
# at batch 8, 13 ms at 128; MobileNetV3-Small at 64 px 0.74 ms at 16, 0.29 at 64. A calibration keeps the fastest.
EVAL_BATCHES = (8, 16, 32, 64)
CPU_EVAL_BATCH = 32  # on a CPU without a kept calibration: close to the fastest for most networks and sizes
GPU_EVAL_BATCH = 256
CLASSES = 10
CACHE_FILE = "estimate-rates.json"  # (measurements.json is the peak FLOP/s and precision probes')


@dataclass
class Rate:
    """This machine's speed for one backbone at one image size, batch size and thread count (fp32)."""

    train_flops_s: float  # FLOPs per second of the training work beyond a head-only step
    step_s: float  # seconds of a step that trains the head alone (optimizer, loss, Python: not FLOPs)
    eval_flops_s: float  # FLOPs per second of inference (evaluation, caching frozen stages)
    build_s: float  # seconds to build the network
    warmup_s: float = 0.0  # what a run's first step costs beyond the others (kernels chosen, FLOPs counted)
    eval_batch: int = CPU_EVAL_BATCH  # the inference batch that ran fastest, which evaluation then uses
    measured: float = 0.0  # time.time() when measured
    others_cpu_share: float | None = None  # how loaded the machine was meanwhile

    def stale(self, now: float) -> bool:
        loaded = self.others_cpu_share is not None and self.others_cpu_share > LOADED_SHARE
        return now - self.measured > (LOADED_RETRY_S if loaded else STALE_AFTER_S)


def machine_key() -> str:
    """The machine as its calibrations are filed: CPU model, cores, torch."""
    return f"{cpu_model()} | {settings.cores()} cores | torch {torch.__version__} | v{VERSION}"


def rate_key(backbone: str, image_size: int, batch_size: int, threads: int) -> str:
    return f"{backbone} {image_size}px batch {batch_size} threads {threads}"


def cache_path() -> Path:
    return settings.cache_dir() / CACHE_FILE


def _read() -> dict:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(data: dict) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda stream: stream.write(json.dumps(data, indent=1, sort_keys=True).encode()))
    except OSError:
        pass  # a read-only home: measured again next time, nothing breaks


def cached_rate(backbone: str, image_size: int, batch_size: int, threads: int | None) -> Rate | None:
    """The kept calibration, if it is fresh (None: `calibration` would measure); ``threads`` None: torch's."""
    threads = threads or torch.get_num_threads()
    entry = _read().get(machine_key(), {}).get(rate_key(backbone, image_size, batch_size, threads))
    try:
        rate = Rate(**entry) if isinstance(entry, dict) else None
    except TypeError:
        return None
    return rate if rate is not None and not rate.stale(time.time()) else None


def calibration(backbone: str, image_size: int, batch_size: int, threads: int | None = None,
                measuring: Callable[[], ContextManager] = nullcontext) -> Rate:
    """This machine's rate for these settings: from the cache, or measured now (a second or two) and kept. One at a
    time in a process (settings typed quickly on a dashboard page started four at once, 20 s on two cores, each
    measuring the others' load). ``measuring``: around the measurement, once this thread's turn has come."""
    threads = threads or torch.get_num_threads()
    rate = cached_rate(backbone, image_size, batch_size, threads)
    if rate is not None:
        return rate
    may_measure()  # (before the lock: a page that may not measure never waits for another's measurement)
    with one_at_a_time:
        rate = cached_rate(backbone, image_size, batch_size, threads)  # measured while this thread waited?
        if rate is not None:
            return rate
        with measuring():
            rate = measure_rate(backbone, image_size, batch_size, threads)
        data = _read()
        data.setdefault(machine_key(), {})[rate_key(backbone, image_size, batch_size, threads)] = asdict(rate)
        _write(data)
    return rate


def _timed(step, min_s: float = MIN_TIMED_S, at_most: int = 20) -> float:
    """Seconds per call of ``step`` (after one warm-up call), over at least ``min_s`` and two calls."""
    step()
    count, started = 0, time.perf_counter()
    while count < 2 or (time.perf_counter() - started < min_s and count < at_most):
        step()
        count += 1
    return (time.perf_counter() - started) / count


def measure_rate(backbone: str, image_size: int, batch_size: int, threads: int) -> Rate:
    """Measure `Rate` here: full training steps, head-only steps and an inference pass, fp32, random images."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    meter = CpuMeter()
    try:
        started = time.perf_counter()
        model = get_backbone(backbone).build(False, CLASSES).to(memory_format=torch.channels_last)
        build_s = time.perf_counter() - started
        torch.manual_seed(0)
        x = torch.randn(batch_size, 3, image_size, image_size).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, CLASSES, (batch_size,))
        device = torch.device("cpu")
        model.train()
        full = TrainStep(model, make_optimizer(param_groups(model, 1e-3), "adamw", 1e-3, 1e-4, 0.9), device)
        started = time.perf_counter()
        count_flops(lambda: full(x, y))  # a run's first step: kernels chosen, FLOPs counted
        first_s = time.perf_counter() - started
        full(x, y)
        full_s = _timed(lambda: full(x, y), min_s=MIN_TIMED_S, at_most=5)
        depth = len(model.stages)
        set_freeze_depth(model, depth)
        with torch.no_grad():
            features = model.features(x)
        head = TrainStep(model, make_optimizer(param_groups(model, 1e-3), "adamw", 1e-3, 1e-4, 0.9), device)
        head_s = _timed(lambda: head(features, y, depth), min_s=0.1)
        eval_batch, eval_s = _fastest_inference(model.eval(), image_size)
    finally:
        torch.set_num_threads(previous)
    profile = flop_profile(backbone, image_size, CLASSES)
    full_flops = step_flops(backbone, image_size, CLASSES, 0, 0) * batch_size
    head_flops = step_flops(backbone, image_size, CLASSES, depth, depth) * batch_size
    return Rate(train_flops_s=(full_flops - head_flops) / max(full_s - head_s, 1e-6), step_s=head_s,
                eval_flops_s=profile.forward_from(0) / max(eval_s, 1e-9), eval_batch=eval_batch, build_s=build_s,
                warmup_s=min(max(0.0, first_s - full_s), WARMUP_STEPS * full_s),
                measured=time.time(), others_cpu_share=meter.lap()[1])


def _fastest_inference(model: torch.nn.Module, image_size: int) -> tuple[int, float]:
    """The batch of `EVAL_BATCHES` at which ``model`` infers fastest here, and its seconds per image."""
    images = torch.randn(max(EVAL_BATCHES), 3, image_size, image_size).contiguous(memory_format=torch.channels_last)
    per_image = {}
    with torch.inference_mode():
        for batch in EVAL_BATCHES:
            model(images[:batch])  # a new shape: its kernels are chosen once, as in a run's first evaluation
            started = time.perf_counter()
            for chunk in images.split(batch):
                model(chunk)
            per_image[batch] = (time.perf_counter() - started) / len(images)
    fastest = min(per_image, key=per_image.get)
    return fastest, per_image[fastest]


def inference_batch(backbone: str, image_size: int, batch_size: int, device: torch.device) -> int:
    """How many images evaluation and the feature cache run at once: on a CPU the batch its kept calibration found
    fastest (`CPU_EVAL_BATCH` without one: a run never waits for a calibration), on a GPU a large one."""
    if device.type != "cpu":
        return GPU_EVAL_BATCH
    rate = cached_rate(backbone, image_size, batch_size, None)
    return rate.eval_batch if rate is not None else CPU_EVAL_BATCH


@dataclass(frozen=True)
class FlopProfile:
    """Forward FLOPs per image of each stage and of the head."""

    stages: tuple[float, ...]
    head: float

    def forward_from(self, start: int) -> float:
        """Inference from stage ``start`` to the logits."""
        return sum(self.stages[start:]) + self.head

    def prefix(self, depth: int) -> float:
        """The first ``depth`` stages once: what caching them costs per image."""
        return sum(self.stages[:depth])


def _meta_model(backbone: str, num_classes: int):
    with torch.device("meta"):
        return get_backbone(backbone).build(False, num_classes)


def _kept(name: str, count):
    """A FLOP count kept on disk under torch's version (the same on every machine), else counted and kept."""
    data = _read()
    kept = data.setdefault(f"flops | torch {torch.__version__} | v{VERSION}", {})
    if name not in kept:
        kept[name] = count()
        _write(data)
    return kept[name]


@lru_cache(maxsize=256)
def flop_profile(backbone: str, image_size: int, num_classes: int) -> FlopProfile:
    """Counted on one batch of the real network (on the ``meta`` device: nothing computed)."""
    stages, head = _kept(f"{backbone} {image_size}px {num_classes} classes forward",
                         lambda: _count_profile(backbone, image_size, num_classes))
    return FlopProfile(tuple(stages), head)


def _count_profile(backbone: str, image_size: int, num_classes: int) -> tuple[list[float], float]:
    model = _meta_model(backbone, num_classes).eval()
    x = torch.empty(2, 3, image_size, image_size, device="meta")
    flops = []
    with torch.no_grad():
        for stage in model.stage_list():
            flops.append(count_flops(lambda: stage(x)) / 2)
            x = stage(x)
        head = count_flops(lambda: model.head(x.flatten(1) if x.dim() > 2 else x)) / 2
    return flops, head


@lru_cache(maxsize=1024)
def step_flops(backbone: str, image_size: int, num_classes: int, depth: int, start: int) -> float:
    """FLOPs per image of one training step with ``depth`` stages frozen, the network entered at stage ``start``
    (``start == depth``: the frozen stages' output is cached), forward and backward, as `train_run` counts it."""
    return _kept(f"{backbone} {image_size}px {num_classes} classes step depth {depth} start {start}",
                 lambda: _count_step(backbone, image_size, num_classes, depth, start))


def _count_step(backbone: str, image_size: int, num_classes: int, depth: int, start: int) -> float:
    model = _meta_model(backbone, num_classes)
    set_freeze_depth(model, depth)
    model.train()
    x = torch.empty(2, 3, image_size, image_size, device="meta")
    if start:
        with torch.no_grad():
            x = model.features(x, 0, start)
    y = torch.zeros(2, dtype=torch.long, device="meta")

    def step():
        F.cross_entropy(model.head(model.features(x, start)), y).backward()

    return count_flops(step) / 2


@lru_cache(maxsize=1)
def startup_s() -> float:
    """Seconds a fresh worker process takes to start and import the training code (kept per machine)."""
    data = _read()
    kept = data.get(machine_key(), {}).get("startup")
    if isinstance(kept, dict) and time.time() - kept.get("measured", 0) < STALE_AFTER_S:
        return float(kept["seconds"])
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", "import workbench.experiments.tasks, workbench.training.train"],
                       check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return 3.0
    seconds = time.perf_counter() - started
    data.setdefault(machine_key(), {})["startup"] = {"seconds": seconds, "measured": time.time()}
    _write(data)
    return seconds
