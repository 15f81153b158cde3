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

from dataclasses import asdict, dataclass, field

from workbench.core import settings
from workbench.core.errors import WorkbenchError
from workbench.core.records import RunRecord
from workbench.experiments.executors import check
from workbench.experiments.pairs import pairing
from workbench.experiments.reuse import find_reusable, fingerprint
from workbench.experiments.run_time import data_cost, data_key, run_seconds
from workbench.models.backbones import get_backbone
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore
from workbench.training.calibrate import startup_s


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


def note_estimate(record: RunRecord, threads: int | None = None) -> bool:
    """Keep a trained run's estimate beside its measured time (``environment["estimated_s"]``), as this machine's
    kept calibration gives it; False where it has none for these settings (nothing is measured in a job)."""
    import torch

    try:  # at the threads the run had (a run trained beside its twin had half)
        found = run_seconds(RunConfig.of(record), threads or record.environment.get("threads")
                            or torch.get_num_threads(), measure=False)
    except WorkbenchError:
        return False
    if found is None:
        return False
    record.environment["estimated_s"] = round(found[0], 2)
    return True


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
    runs, by_task, trained = [], {index: 0.0 for index in tasks}, {}
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
        trained.setdefault((index, seed), {})[role] = run
    notes = []
    for (index, seed), pair in trained.items() if not parallel else ():  # both runs at once, where no later
        found = pairing(pair["transfer"], pair["scratch"], measure=measure) if len(pair) == 2 else None
        if found is not None and found.at_once > 0:
            by_task[index] += found.at_once - found.in_turn
            for run in runs:  # each run's own seconds on its share of the threads
                if (run.comparison, run.seed) == (index, seed) and not run.reused:
                    run.seconds = found.transfer if run.role == "transfer" else found.scratch
            notes.append("the transfer and scratch runs train at once, each on half the cores")
    decoded: dict[tuple, int] = {}
    for index in tasks:  # the data is decoded once per process that trains with it, before its first run
        data = data_cost(configs[index].transfer)
        key = data_key(configs[index].transfer)
        decoded[key] = decoded.get(key, 0) + 1
        by_task[index] += data.decode_s if decoded[key] <= (workers if parallel else 1) else 0.0
        if data.guessed:
            notes.append(f"{configs[index].transfer.dataset}: image counts guessed (the dataset is not opened yet)")
    total = _schedule([by_task[i] for i in tasks], workers if parallel else 1)
    if parallel:
        total += startup_s()  # each worker process starts and imports torch (in parallel)
    return Estimate(runs, total, workers if parallel else 1, list(dict.fromkeys(notes)))


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
