"""Sweeps as one command: a grid of comparisons over one or two settings, each distinct run trained once.

`sweep_grid` lays out the comparisons; `run_sweep` plans their runs and hands the ones left to
train to an executor (`workbench.experiments.executors`: this process, local worker processes, or Ray).
Planning happens here, in the driver: a run identical to a completed one in the store, or to a
run another point of the grid trains (the scratch baseline of a depth or LR sweep), becomes a
copy naming its source (`workbench.experiments.reuse`). The driver writes those copies, so workers never
look anything up in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from workbench.core.records import RunRecord
from workbench.experiments.comparisons import Comparison, grid_configs
from workbench.experiments.reuse import find_reusable, fingerprint, reuse_run
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore, new_id
from workbench.training.train import Hooks


@dataclass
class SweepPoint:
    """One comparison of the grid: the swept settings' values and the whole config."""

    values: dict  # parameter -> value, one entry per swept setting
    config: ComparisonConfig
    comparison_id: str = field(default_factory=lambda: new_id("c-"))


@dataclass
class Task:
    """The runs of one point that a worker trains; the point's other runs are copies."""

    point: SweepPoint
    runs: set[tuple[str, int]]  # (role, seed)


def sweep_grid(base: ComparisonConfig, parameter: str, values: list, parameter2: str | None = None,
               values2: list | None = None) -> list[SweepPoint]:
    """Every value of ``parameter``, or every pair with ``parameter2`` (first parameter outermost)."""
    swept = [parameter] + ([parameter2] if parameter2 else [])
    return [SweepPoint({p: getattr(c.transfer, p) for p in swept}, c)
            for c in grid_configs(base, parameter, values, parameter2, values2)]


def _runs(config: ComparisonConfig):
    for seed in config.seeds:
        yield "transfer", seed, config.transfer_run(seed)
        yield "scratch", seed, config.scratch(seed)


def run_sweep(points: list[SweepPoint], store: RunStore, executor: str = "local", workers: int | None = None,
              reuse: bool = True,
              on_point_done: Callable[[SweepPoint, Comparison], None] | None = None) -> list[Comparison]:
    """Train the grid, each distinct run once (``reuse``); one `Comparison` per point, in the grid's order.

    A point whose run was to be copied from one that failed keeps the runs it has.
    """
    from workbench.experiments.executors import check, execute

    workers = check(executor, workers)
    got: dict[str, dict[tuple[str, int], RunRecord]] = {p.comparison_id: {} for p in points}
    planned: dict[tuple[str, str, int], str] = {}  # (comparison, role, seed) of each run to train -> its fingerprint
    waiting: dict[str, list[tuple]] = {}  # fingerprint -> the runs that copy it once it is trained
    tasks = []
    for point in points:
        point.config.validate()
        train = set()
        for role, seed, run_config in _runs(point.config):
            key = fingerprint(run_config)
            source = find_reusable(store, key) if reuse else None
            if source is not None:
                got[point.comparison_id][role, seed] = reuse_run(store, source, run_config, role, point.comparison_id,
                                                                 Hooks())
            elif reuse and key in planned.values():
                waiting.setdefault(key, []).append((point, role, seed, run_config))
            else:
                planned[point.comparison_id, role, seed] = key
                train.add((role, seed))
        if train:
            tasks.append(Task(point, train))
        elif on_point_done and len(got[point.comparison_id]) == 2 * len(point.config.seeds):
            on_point_done(point, _assemble(point, got))  # every run copied from the store
    by_id = {p.comparison_id: p for p in points}
    for task, records in execute(tasks, store, executor, workers):
        touched = {task.point.comparison_id}
        for record in records:
            seed = record.config["seed"]
            got[record.comparison_id][record.role, seed] = record
            key = planned[record.comparison_id, record.role, seed]
            for point, role, seed_, run_config in waiting.pop(key, []) if record.status == "completed" else []:
                got[point.comparison_id][role, seed_] = reuse_run(store, record, run_config, role,
                                                                  point.comparison_id, Hooks())
                touched.add(point.comparison_id)
        for comparison_id in touched:
            point = by_id[comparison_id]
            if on_point_done and len(got[comparison_id]) == 2 * len(point.config.seeds):
                on_point_done(point, _assemble(point, got))
    return [_assemble(point, got) for point in points]


def _assemble(point: SweepPoint, got: dict) -> Comparison:
    runs = got[point.comparison_id]
    seeds = point.config.seeds
    return Comparison(point.comparison_id, point.config,
                      transfer=[runs["transfer", s] for s in seeds if ("transfer", s) in runs],
                      scratch=[runs["scratch", s] for s in seeds if ("scratch", s) in runs])


def sweep_rows(points: list[SweepPoint], comparisons: list[Comparison]) -> list[dict]:
    """Each point's values and both runs' summaries (per-epoch records included): the table and ``--json``."""
    return [{"values": point.values, **comparison.summary()} for point, comparison in zip(points, comparisons)]
