"""Sweeps as one command: a grid of comparisons over one or two settings, each distinct run trained once.

`sweep_grid` lays out the comparisons; `run_sweep` trains them through `experiments.runner`, which plans
reuse in this process (the scratch baseline of a depth or LR sweep trains once) and hands what is left to an
executor: local worker processes by default, or Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from workbench.experiments.comparisons import Comparison
from workbench.experiments.grids import grid_configs
from workbench.experiments.runner import run_comparisons
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore, new_id


@dataclass
class SweepPoint:
    """One comparison of the grid: the swept settings' values and the whole config."""

    values: dict  # parameter -> value, one entry per swept setting
    config: ComparisonConfig
    comparison_id: str = field(default_factory=lambda: new_id("c-"))


def sweep_grid(base: ComparisonConfig, parameter: str, values: list, parameter2: str | None = None,
               values2: list | None = None) -> list[SweepPoint]:
    """Every value of ``parameter``, or every pair with ``parameter2`` (first parameter outermost)."""
    swept = [parameter] + ([parameter2] if parameter2 else [])
    return [SweepPoint({p: getattr(c.transfer, p) for p in swept}, c)
            for c in grid_configs(base, parameter, values, parameter2, values2)]


def run_sweep(points: list[SweepPoint], store: RunStore, executor: str = "local", workers: int | None = None,
              reuse: bool = True,
              on_point_done: Callable[[SweepPoint, Comparison], None] | None = None) -> list[Comparison]:
    """Train the grid, each distinct run once (``reuse``); one `Comparison` per point, in the grid's order.

    ``workers`` None: the default number of local worker processes (`experiments.executors`).
    """
    by_id = {p.comparison_id: p for p in points}
    on_done = (lambda comparison: on_point_done(by_id[comparison.comparison_id], comparison)) if on_point_done else None
    return run_comparisons([p.config for p in points], store, executor, workers,
                           comparison_ids=[p.comparison_id for p in points], reuse=reuse, on_done=on_done)


def sweep_rows(points: list[SweepPoint], comparisons: list[Comparison]) -> list[dict]:
    """Each point's values and both runs' summaries (per-epoch records included): the table and ``--json``."""
    return [{"values": point.values, **comparison.summary()} for point, comparison in zip(points, comparisons)]
