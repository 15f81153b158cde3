"""A study: the settings a paper varied, run here for several seeds, and whether its claim holds here.

Every point of a study is an ordinary comparison (a transfer run and its from-scratch twin), so its
runs land in the run store like any other and the dashboard's Compare tab shows them. Scratch runs
that several points share (the scratch twin ignores freeze depth and BatchNorm policy) are trained
once and reused. Each seed varies both the initialisation and the train/validation/test split
(``seed`` and ``split_seed``): on small data the split moves results as much as the initial weights.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Callable

from workbench.core.errors import ConfigError
from workbench.core.metrics import BY_KEY
from workbench.core.records import RunRecord
from workbench.experiments.reuse import find_reusable, fingerprint
from workbench.experiments.runner import run_comparisons
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore, new_id
from workbench.training.train import train_run

SCRATCH = "scratch"


@dataclass(frozen=True)
class Point:
    """One setting of a study: where it sits on the x axis, which curve it belongs to, what runs."""

    x: object
    arm: str
    config: ComparisonConfig
    with_scratch: bool = True  # also draw the scratch twin's result at this x, as the curve "scratch"


@dataclass
class Cell:
    """One curve at one x: a metric for each seed (in the order of the result's seeds)."""

    x: object
    arm: str
    metric: str
    values: list[float | None]
    run_ids: list[str]

    @property
    def mean(self) -> float | None:
        present = [v for v in self.values if v is not None]
        return statistics.fmean(present) if present and len(present) == len(self.values) else None

    @property
    def std(self) -> float | None:
        present = [v for v in self.values if v is not None]
        if not present or len(present) < len(self.values):
            return None
        return statistics.pstdev(present) if len(present) > 1 else 0.0


@dataclass
class Verdict:
    """What the paper reports, what was measured here, and whether the qualitative claim holds here."""

    paper: str
    measured: str
    holds: bool | None  # None: the difference is within the spread, so neither
    reason: str


@dataclass
class Study:
    name: str
    title: str
    reference: str
    claim: str
    x_label: str
    metrics: tuple[str, ...]  # keys of the metrics table; the first is the one plotted
    points: Callable[[bool], list[Point]]  # quick -> the settings
    judge: Callable[["StudyResult"], Verdict]
    note: str = ""  # a caveat printed with every result (e.g. how small the sample is)
    log_x: bool = False
    # Runs the points start from, trained once per seed with their weights kept: a point names one
    # by ``init_run="@name"`` (Yosinski et al.'s base networks A and B).
    sources: Callable[[bool], dict[str, RunConfig]] | None = None


@dataclass
class StudyResult:
    study: Study
    seeds: list[int]
    quick: bool
    cells: list[Cell] = field(default_factory=list)
    verdict: Verdict | None = None

    def cell(self, x, arm: str, metric: str | None = None) -> Cell:
        metric = metric or self.study.metrics[0]
        return next(c for c in self.cells if c.x == x and c.arm == arm and c.metric == metric)

    def arms(self) -> list[str]:
        return list(dict.fromkeys(c.arm for c in self.cells))

    def xs(self, arm: str | None = None) -> list:
        return list(dict.fromkeys(c.x for c in self.cells if arm in (None, c.arm)))

    def to_dict(self) -> dict:
        verdict = self.verdict
        return {"study": self.study.name, "title": self.study.title, "reference": self.study.reference,
                "claim": self.study.claim, "metrics": list(self.study.metrics), "x": self.study.x_label,
                "seeds": self.seeds, "quick": self.quick, "note": self.study.note, "log_x": self.study.log_x,
                "cells": [{"x": c.x, "arm": c.arm, "metric": c.metric, "values": c.values, "mean": c.mean, "std": c.std,
                           "run_ids": c.run_ids} for c in self.cells],
                "paper": verdict.paper if verdict else None, "measured": verdict.measured if verdict else None,
                "holds": verdict.holds if verdict else None, "reason": verdict.reason if verdict else None}


def seeded(config: ComparisonConfig, seed: int, sources: dict[str, str] | None = None) -> ComparisonConfig:
    """The comparison for one seed: its own initialisation and its own split (and its seed's source run)."""
    transfer = replace(config.transfer, split_seed=seed)
    if transfer.init_run and transfer.init_run.startswith("@"):
        transfer = replace(transfer, init_run=(sources or {}).get(transfer.init_run[1:], transfer.init_run))
    return ComparisonConfig(transfer, config.scratch_lr, seeds=[seed])


def train_sources(study: Study, store: RunStore, seed: int, quick: bool) -> dict[str, str]:
    """The study's source runs for one seed, each trained unless a completed one with its weights is in the store."""
    ids = {}
    for name, config in (study.sources(quick) if study.sources else {}).items():
        config = replace(config, seed=seed, split_seed=seed)
        key = fingerprint(config)
        found = find_reusable(store, key, with_weights=True)
        if found is None:
            found = train_run(config, store, save_checkpoint=True)
            found.fingerprint = key
            store.save(found)
        ids[name] = found.run_id
    return ids


def run_study(study: Study, store: RunStore, seeds: list[int], quick: bool = False,
              on_point: Callable[[Point, int], None] | None = None) -> StudyResult:
    """Run every point for every seed (reusing identical runs already in the store) and judge the claim."""
    if not seeds:
        raise ConfigError("a study needs at least one seed")
    points = study.points(quick)
    for point in points:
        if not (point.config.transfer.init_run or "").startswith("@"):
            seeded(point.config, seeds[0]).validate()  # every mistake before the first run, not after an hour
    result = StudyResult(study, list(seeds), quick)
    cells: dict[tuple, Cell] = {}

    def add(x, arm: str, record: RunRecord) -> None:
        if len(cells.get((x, arm, study.metrics[0]), Cell(x, arm, "", [], [])).values) == len(seeds):
            return  # the scratch twin of another arm at the same x: the same runs, counted once
        for key in study.metrics:
            cell = cells.setdefault((x, arm, key), Cell(x, arm, key, [], []))
            cell.values.append(BY_KEY[key].read(record))
            cell.run_ids.append(record.run_id)

    sources = {seed: train_sources(study, store, seed, quick) for seed in seeds}
    planned = [(point, seed) for point in points for seed in seeds]
    ids = [new_id("c-") for _ in planned]
    at = dict(zip(ids, planned))
    comparisons = run_comparisons(
        [seeded(point.config, seed, sources[seed]) for point, seed in planned], store, comparison_ids=ids,
        only=[None if point.with_scratch else {("transfer", seed)} for point, seed in planned],  # no unread scratch
        on_done=(lambda comparison: on_point(*at[comparison.comparison_id])) if on_point else None)
    for (point, _), comparison in zip(planned, comparisons):
        add(point.x, point.arm, comparison.transfer[0])
        if point.with_scratch:
            add(point.x, SCRATCH, comparison.scratch[0])
    result.cells = list(cells.values())
    verdict = study.judge(result)
    result.verdict = replace(verdict, reason=verdict.reason + _spread_note(result))
    return result


def _spread_note(result: StudyResult) -> str:
    """What a verdict adds when only one seed ran."""
    return " (one seed: no spread measured, so read differences with care)" if len(result.seeds) < 2 else ""


def base_run(quick: bool, **values) -> RunConfig:
    """The studies' shared small settings: CPU-sized images and epochs, full mode a little larger."""
    defaults = dict(image_size=32 if quick else 64, epochs=2 if quick else 8)
    return RunConfig(**{**defaults, **values})
