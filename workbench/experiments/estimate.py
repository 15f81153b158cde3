"""How long comparisons will take on this machine, known before Launch.

The estimate follows what `train_run` will compute: for each epoch, the FLOPs of a training step on each
training image at that epoch's freeze depth (the frozen stages computed once, when their output is cached),
the validation pass, the test pass at the end; the images decoded once per comparison; the network built once
per run. FLOPs are counted on the real network (`training.calibrate`), and divided by this machine's measured
rate for that backbone, image size, batch size and thread count (a calibration of a second or two, kept).
Planning follows `experiments.runner`: a run identical to a completed one in the store costs nothing, a run
that another comparison of the same call trains (a sweep's scratch baseline) is counted once, and several
comparisons share the local workers the way `experiments.executors` hands them out.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

from workbench.core import settings
from workbench.core.errors import WorkbenchError
from workbench.core.records import RunRecord
from workbench.data.loading import dataset_identity, split_sizes
from workbench.experiments.executors import check
from workbench.experiments.reuse import find_reusable, fingerprint
from workbench.models.backbones import get_backbone
from workbench.models.freezing import frozen_depth_at
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore
from workbench.training.calibrate import cached_rate, calibration, flop_profile, startup_s, step_flops
from workbench.training.train import EVAL_BATCH

DECODE_SAMPLE = 16
GUESSED_CLASSES = 10
GUESSED_TRAIN_PER_CLASS = 500


@dataclass
class RunEstimate:
    """One run of the plan: its comparison (index into the configs), role, seed, expected seconds and FLOPs."""

    comparison: int
    role: str
    seed: int
    seconds: float
    flops: float
    reused: str | None = None  # "in the store", "trained by another comparison here", or None: it trains


@dataclass
class Estimate:
    """Every run's expected seconds and the total on this machine, the local workers sharing the comparisons."""

    runs: list[RunEstimate]
    total_s: float
    workers: int
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """'about 40 s on this machine', as every face says it."""
        return f"about {human_seconds(self.total_s)} on this machine"

    def to_dict(self) -> dict:
        return {"total_s": self.total_s, "workers": self.workers, "notes": self.notes,
                "runs": [asdict(r) for r in self.runs]}


def human_seconds(seconds: float) -> str:
    """12 s, 40 s, 3.5 min, 1.2 h: an estimate's own precision."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class _Data:
    sizes: tuple[int, int, int]  # train, val, test
    classes: int
    decode_s: float  # seconds to decode every image of the three splits
    guessed: bool = False


_DATA: dict[tuple, _Data] = {}


def _data(config: RunConfig) -> _Data:
    """Split sizes from the labels alone, and decoding timed on a few real images (kept in this process)."""
    key = _data_key(config)
    if key not in _DATA:
        _DATA[key] = _measure_data(config)
    return _DATA[key]


def _measure_data(config: RunConfig) -> _Data:
    try:
        sizes, classes, source = split_sizes(config)
    except WorkbenchError:  # not here, or only readable by downloading: a guess, said as one
        classes = GUESSED_CLASSES
        train = classes * (config.train_per_class or GUESSED_TRAIN_PER_CLASS)
        evaluated = classes * (config.max_eval_per_class or GUESSED_TRAIN_PER_CLASS // 4)
        return _Data((train, evaluated, evaluated), classes, 0.002 * (train + 2 * evaluated), guessed=True)
    import numpy as np

    total = sum(sizes.values())
    sample = np.arange(min(DECODE_SAMPLE, len(source.labels)))
    started = time.perf_counter()
    source.load(sample, config.image_size)
    per_image = (time.perf_counter() - started) / max(len(sample), 1)
    return _Data((sizes["train"], sizes["val"], sizes["test"]), classes, per_image * total)


def note_estimate(record: RunRecord, threads: int | None = None) -> bool:
    """Keep a trained run's estimate beside its measured time (``environment["estimated_s"]``), as this machine's
    kept calibration gives it; False where it has none for these settings (nothing is measured in a job)."""
    import torch

    try:
        found = run_seconds(RunConfig.of(record), threads or torch.get_num_threads(), measure=False)
    except WorkbenchError:
        return False
    if found is None:
        return False
    record.environment["estimated_s"] = round(found[0], 2)
    return True


def run_seconds(config: RunConfig, threads: int | None = None, measure: bool = True) -> tuple[float, float] | None:
    """(seconds, FLOPs) of training and testing ``config`` once, its data already decoded (``measure`` False:
    only from a kept calibration, else None)."""
    rate = (calibration if measure else cached_rate)(config.backbone, config.image_size, config.batch_size, threads)
    if rate is None:
        return None
    data = _data(config)
    n_train, n_val, n_test = data.sizes
    stages = get_backbone(config.backbone).num_stages
    profile = flop_profile(config.backbone, config.image_size, data.classes)
    steps = max(1, math.ceil(n_train / config.batch_size))
    seconds, flops, depth, start = rate.build_s + rate.warmup_s, 0.0, None, 0
    if config.bn_policy == "adapt" and config.freeze_depth:  # AdaBN: the frozen stages once over the training images
        flops += n_train * profile.prefix(config.freeze_depth)
        seconds += n_train * profile.prefix(config.freeze_depth) / rate.eval_flops_s
    for epoch in range(config.epochs):
        now = frozen_depth_at(epoch, config.freeze_depth, config.unfreeze_every)
        cached = (config.cache_features and now > 0 and config.bn_policy != "train" and not config.augment
                  and now <= stages)
        per_image = step_flops(config.backbone, config.image_size, data.classes, now, now if cached else 0)
        step_s = rate.step_s + config.batch_size * per_image / rate.train_flops_s
        if now != depth:  # what a step runs changed: the cache is built again, the first step is counted
            depth, start = now, now if cached else 0
            if cached:
                prefix = (n_train + n_val + n_test) * profile.prefix(now)
                flops += n_train * profile.prefix(now)
                seconds += prefix / rate.eval_flops_s
            seconds += step_s  # the counted step runs under the FLOP counter: about one step more
        flops += n_train * per_image
        seconds += steps * rate.step_s + n_train * per_image / rate.train_flops_s
        seconds += n_val * profile.forward_from(start) / rate.eval_flops_s + math.ceil(n_val / EVAL_BATCH) * 0.01
    seconds += n_test * profile.forward_from(start) / rate.eval_flops_s
    return seconds, flops


def _plan(configs: list[ComparisonConfig], store: RunStore | None, reuse: bool,
          only: list[set | None]) -> list[RunEstimate | tuple]:
    """Each run in the runner's order: a `RunEstimate` of 0 s where it is a copy, else (index, role, seed, config)."""
    planned, trained = [], set()
    for index, (config, keep) in enumerate(zip(configs, only)):
        for seed in config.seeds:
            for role, run in (("transfer", config.transfer_run(seed)), ("scratch", config.scratch(seed))):
                if keep is not None and (role, seed) not in keep:
                    continue
                key = fingerprint(run) if reuse else None
                if reuse and store is not None and find_reusable(store, key) is not None:
                    planned.append(RunEstimate(index, role, seed, 0.0, 0.0, "in the store"))
                elif reuse and key in trained:
                    planned.append(RunEstimate(index, role, seed, 0.0, 0.0, "trained by another comparison here"))
                else:
                    trained.add(key)
                    planned.append((index, role, seed, run))
    return planned


def estimate(configs: list[ComparisonConfig], store: RunStore | None = None, workers: int | None = 1,
             reuse: bool = True, only: list[set | None] | None = None, measure: bool = True) -> Estimate | None:
    """Expected seconds of each run of ``configs`` and the total on this machine, as `run_comparisons` with the
    same ``workers``, ``reuse`` and ``only`` would train them (``workers`` None: a sweep's default). ``measure``
    False: only from kept calibrations (None where one is missing: nothing is measured)."""
    for config in configs:
        config.validate()
    workers = check("local", workers)
    planned = _plan(configs, store, reuse, only or [None] * len(configs))
    tasks = sorted({p[0] for p in planned if isinstance(p, tuple)})
    parallel = workers > 1 and len(tasks) > 1
    threads = settings.threads_per_share(workers) if parallel else None
    runs, by_task = [], {index: 0.0 for index in tasks}
    for item in planned:
        if isinstance(item, RunEstimate):
            runs.append(item)
            continue
        index, role, seed, run = item
        found = run_seconds(run, threads, measure)
        if found is None:
            return None
        seconds, flops = found
        runs.append(RunEstimate(index, role, seed, seconds, flops))
        by_task[index] += seconds
    notes = []
    decoded: dict[tuple, int] = {}
    for index in tasks:  # the data is decoded once per process that trains with it, before its first run
        data = _data(configs[index].transfer)
        key = _data_key(configs[index].transfer)
        decoded[key] = decoded.get(key, 0) + 1
        by_task[index] += data.decode_s if decoded[key] <= (workers if parallel else 1) else 0.0
        if data.guessed:
            notes.append(f"{configs[index].transfer.dataset}: image counts guessed (the dataset is not opened yet)")
    total = _schedule([by_task[i] for i in tasks], workers if parallel else 1)
    if parallel:
        total += startup_s()  # each worker process starts and imports torch (in parallel)
    return Estimate(runs, total, workers if parallel else 1, list(dict.fromkeys(notes)))


def _data_key(config: RunConfig) -> tuple:
    """What decides a comparison's decoded images (`data.loading.load_data` keeps them by it)."""
    return (dataset_identity(config.dataset), config.image_size, config.split_seed, config.train_per_class,
            config.max_eval_per_class, config.data_dir, config.block_shuffle)


def _schedule(durations: list[float], workers: int) -> float:
    """When the last task ends, each task going to the first worker free (as a process pool hands them out)."""
    free = [0.0] * workers
    for duration in durations:
        first = min(range(workers), key=free.__getitem__)
        free[first] += duration
    return max(free, default=0.0)


FIT_SIZES = (32, 48, 64, 96, 128, 160, 224)
FIT_EPOCHS = (1, 2, 3, 5, 8, 10, 15, 20, 30)


@dataclass
class Fit:
    """Settings that fit a lesson's minutes: the comparison with them, and its estimate."""

    image_size: int
    freeze_depth: int
    epochs: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def fits(minutes: float, base: ComparisonConfig, sizes: tuple[int, ...] | None = None,
         epochs: tuple[int, ...] | None = None) -> list[Fit]:
    """For each image size and freeze depth (none, half, all) of ``base``'s backbone, the most epochs that fit
    in ``minutes`` here (the comparison's transfer and scratch runs, every seed), best first: the largest
    image size, then the most epochs. Settings that do not fit even with the fewest epochs are left out."""
    from dataclasses import replace

    backbone = get_backbone(base.transfer.backbone)
    depths = sorted({0, backbone.num_stages // 2, backbone.num_stages})
    found = []
    for size in (s for s in sizes or FIT_SIZES if s >= backbone.min_image_size):
        for depth in depths:
            best = None
            for count in sorted(epochs or FIT_EPOCHS):
                config = ComparisonConfig(replace(base.transfer, image_size=size, freeze_depth=depth, epochs=count,
                                                  unfreeze_every=0), base.scratch_lr, list(base.seeds))
                seconds = estimate([config], reuse=False).total_s
                if seconds > minutes * 60:
                    break
                best = Fit(size, depth, count, seconds)
            if best is not None:
                found.append(best)
    return sorted(found, key=lambda f: (-f.image_size, -f.epochs, f.freeze_depth))
