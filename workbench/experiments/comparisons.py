"""Transfer-vs-scratch comparisons: the same data, splits, epochs, batch size and seeds for both."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Callable

from workbench.core.errors import ConfigError
from workbench.core.metrics import METRICS
from workbench.core.records import RunRecord
from workbench.data.loading import load_data
from workbench.experiments.reuse import fingerprint
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.options import OPTIONS, SWEEPABLE, option
from workbench.store.runs import RunStore
from workbench.training.train import Hooks, train_run

EPOCH_SCALARS = ("train_loss", "train_acc", "val_loss", "val_acc", "cum_s", "train_flops", "images_seen")


@dataclass
class Comparison:
    comparison_id: str
    config: ComparisonConfig
    transfer: list[RunRecord] = field(default_factory=list)
    scratch: list[RunRecord] = field(default_factory=list)

    def summary(self) -> dict:
        return {"comparison_id": self.comparison_id, "transfer": aggregate(self.transfer),
                "scratch": aggregate(self.scratch)}


def _mean_std(values: list) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if len(present) < len(values) or not present:
        return None, None  # e.g. a seed that never reached the target: no honest mean exists
    if not all(math.isfinite(v) for v in present):  # a diverged loss (NaN, inf): `statistics` cannot take them
        return sum(present) / len(present), math.nan
    return statistics.fmean(present), statistics.pstdev(present) if len(present) > 1 else 0.0


def aggregate(records: list[RunRecord]) -> dict | None:
    """One run's summary, or for several seeds the mean (and ``*_std``) of each number and epoch."""
    if not records:
        return None
    if len(records) == 1:
        return records[0].summary()
    summaries = [r.summary() for r in records]
    result = {"run_ids": [s["run_id"] for s in summaries], "seeds": [s["seed"] for s in summaries],
              "reused_from": [s["reused_from"] for s in summaries],
              "status": "completed" if all(s["status"] == "completed" for s in summaries) else "incomplete",
              "target_acc": summaries[0]["target_acc"] if summaries else None,
              "machine_busy": next((s["machine_busy"] for s in summaries if s.get("machine_busy")), None)}
    for metric in METRICS:
        key = metric.key
        result[key], result[f"{key}_std"] = _mean_std([s[key] for s in summaries])
    depth = min((len(s["epochs"]) for s in summaries), default=0)
    epochs = []
    for i in range(depth):
        row = {"epoch": i + 1}
        for key in EPOCH_SCALARS:
            row[key], row[f"{key}_std"] = _mean_std([s["epochs"][i][key] for s in summaries])
        epochs.append(row)
    result["epochs"] = epochs
    return result


def train_seeds(config: RunConfig, seeds: list[int], store: RunStore | None = None) -> tuple[dict, list[RunRecord]]:
    """Train ``config`` once per seed: the mean and spread of every number and epoch, and the records."""
    records = [train_run(replace(config, seed=seed), store) for seed in seeds]
    return aggregate(records), records


def train_runs(config: ComparisonConfig, store: RunStore, comparison_id: str, runs: set[tuple[str, int]],
               hooks_for: Callable[[str, int], Hooks | None] | None = None) -> list[RunRecord]:
    """Train the given (role, seed) runs of one comparison, in seed order, transfer first; nothing is reused here
    (`experiments.runner` decided that). The data is decoded once, for the first run."""
    data = load_data(config.transfer)
    records = []
    for seed in config.seeds:
        for role, run_config in (("transfer", config.transfer_run(seed)), ("scratch", config.scratch(seed))):
            if (role, seed) not in runs:
                continue
            hooks = (hooks_for(role, seed) if hooks_for else None) or Hooks()
            record = train_run(run_config, store, data=data, role=role, comparison_id=comparison_id, hooks=hooks,
                               save_checkpoint=True)
            record.fingerprint = fingerprint(run_config)  # set once completed: only a completed run is worth finding
            store.save(record)
            records.append(record)
    return records


def group_comparisons(records: list[RunRecord]) -> dict[str, Comparison]:
    """Comparisons rebuilt from run records (one scan of the store), in the records' order."""
    grouped: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.comparison_id:
            grouped.setdefault(record.comparison_id, []).append(record)
    comparisons = {}
    for comparison_id, members in grouped.items():
        members = sorted(members, key=lambda r: RunConfig.of(r).seed)
        transfer = [r for r in members if r.role == "transfer"]
        scratch = [r for r in members if r.role == "scratch"]
        config = ComparisonConfig()
        if transfer:
            config = ComparisonConfig(RunConfig.of(transfer[0]),  # (a record may leave out settings: their defaults)
                                      scratch_lr=RunConfig.of(scratch[0]).lr if scratch else config.scratch_lr,
                                      seeds=[RunConfig.of(r).seed for r in transfer])
        comparisons[comparison_id] = Comparison(comparison_id, config, transfer, scratch)
    return comparisons


def load_comparison(store: RunStore, comparison_id: str) -> Comparison:
    """One comparison from the records in the store (empty while its first run has not started)."""
    rows, _ = store.list_runs(comparison_id=comparison_id)  # the index: only this comparison's files are read
    records = [store.load(row["run_id"]) for row in rows]
    return group_comparisons(records).get(comparison_id) or Comparison(comparison_id, ComparisonConfig())


def parse_sweep_values(text: str, parameter: str) -> list:
    """'1e-4 1e-3' for learning rates, '0 3 6' for depths, 'frozen train' for a choice."""
    if parameter not in SWEEPABLE:
        raise ConfigError(f"cannot sweep {parameter!r}; choose one of {', '.join(SWEEPABLE)}")
    return [option(parameter).parse(v) for v in text.replace(",", " ").split()]


def sweep_configs(base: ComparisonConfig, parameter: str, values: list) -> list[ComparisonConfig]:
    """One comparison per value of ``parameter`` (a transfer-run setting), everything else equal."""
    if parameter not in SWEEPABLE:
        raise ConfigError(f"cannot sweep {parameter!r}; choose one of {', '.join(SWEEPABLE)}")
    if not values:
        raise ConfigError("a sweep needs at least one value")
    configs = [ComparisonConfig(replace(base.transfer, **{parameter: value}), base.scratch_lr, list(base.seeds))
               for value in values]
    for config in configs:
        config.validate()
    return configs


def sweep_points(comparisons: list[Comparison], parameter: str) -> list[dict]:
    """For a sweep plot: each comparison's value of ``parameter`` with both runs' summaries."""
    points = []
    for comparison in comparisons:
        if not comparison.transfer:
            continue
        summary = comparison.summary()
        points.append({parameter: getattr(RunConfig.of(comparison.transfer[0]), parameter),
                       "comparison_id": comparison.comparison_id,
                       "transfer": summary["transfer"], "scratch": summary["scratch"]})
    return points


def configs_from_values(values: dict, sweep: str | None = None, sweep_values: str = "", sweep2: str | None = None,
                        sweep_values2: str = "") -> list[ComparisonConfig]:
    """What a form asks for, as validated comparisons: one, one per value of ``sweep``, or with ``sweep2``
    one per pair of values (a grid, ``sweep`` outermost, as `workbench sweep --param2` lays it out).

    ``values`` maps option names to what the form holds (seeds as text); options it leaves out keep
    their defaults. The dashboard and the notebook panels both build their configs here.
    """
    run = {name: value for name, value in values.items() if option(name).scope == "run"}
    seeds = values.get("seeds", option("seeds").default)
    base = ComparisonConfig(RunConfig(**run), scratch_lr=values.get("scratch_lr", option("scratch_lr").default),
                            seeds=option("seeds").parse(seeds) if isinstance(seeds, str) else list(seeds))
    if sweep is None:
        return [base.validate()]
    return grid_configs(base, sweep, parse_sweep_values(sweep_values, sweep), sweep2,
                        parse_sweep_values(sweep_values2, sweep2) if sweep2 else None)


def grid_configs(base: ComparisonConfig, parameter: str, values: list, parameter2: str | None = None,
                 values2: list | None = None) -> list[ComparisonConfig]:
    """Every value of ``parameter``, or every pair with ``parameter2`` (first parameter outermost)."""
    if parameter2 is None:
        return sweep_configs(base, parameter, values)
    if parameter2 == parameter:
        raise ConfigError(f"a grid sweeps two different settings; {option(parameter).label} is given twice")
    return [c for outer in sweep_configs(base, parameter, values) for c in sweep_configs(outer, parameter2, values2)]


def settings(comparison: Comparison) -> dict:
    """Every option of the spec as this comparison was run (from its records)."""
    config = comparison.config
    return {o.name: getattr(config.transfer if o.scope == "run" else config, o.name) for o in OPTIONS}


@dataclass
class SweepGroup:
    """Comparisons that differ in one setting only: one honest line on a sweep plot."""

    parameter: str
    fixed: dict  # every other setting, shared by all the members
    points: list[dict]  # `sweep_points` of the members, one per comparison


def _described(comparisons: list[Comparison]) -> list[tuple[Comparison, dict]]:
    """Each comparison that has a transfer run, with its settings (read once: grouping reads them often)."""
    return [(c, settings(c)) for c in comparisons if c.transfer]


def _alike(described: list[tuple[Comparison, dict]],
           varied: set[str]) -> list[tuple[dict, list[tuple[Comparison, dict]]]]:
    """Comparisons bucketed by every setting outside ``varied``: (those settings, the members)."""
    buckets: dict[str, tuple[dict, list]] = {}
    for comparison, every in described:
        rest = {k: v for k, v in every.items() if k not in varied}
        buckets.setdefault(repr(sorted(rest.items())), (rest, []))[1].append((comparison, every))
    return list(buckets.values())


def sweep_groups(comparisons: list[Comparison], parameter: str, pool: bool = False) -> list[SweepGroup]:
    """Group comparisons that match on every setting but ``parameter`` and take two or more values of it.

    A comparison with other epochs, image size or BatchNorm policy is not on the same line as a
    freeze-depth sweep: joining them would draw a trend that no single setting caused. With ``pool``
    (a class's comparisons: several people may run the same value, with their own seeds) the seeds
    may differ too, and each value becomes one point over every run at it (`pooled_point`).
    """
    groups = []
    for fixed, members in _alike(_described(comparisons), {parameter, "seeds"} if pool else {parameter}):
        values = list(dict.fromkeys(every[parameter] for _, every in members))
        if len(values) > 1:
            points = ([pooled_point([c for c, every in members if every[parameter] == v], parameter, v)
                       for v in values] if pool else sweep_points([c for c, _ in members], parameter))
            groups.append(SweepGroup(parameter, fixed, points))
    return groups


@dataclass
class GridGroup:
    """Comparisons that differ in two settings only, each varying on its own: one heatmap. (`tangled_pairs`
    gives the same shape for two settings that only ever changed together: no heatmap.)"""

    parameter: str
    parameter2: str
    fixed: dict
    comparisons: list[Comparison]

    def pairs(self) -> list[tuple]:
        """The (value, value2) cells the members sit on, in the members' order, each once."""
        return list(dict.fromkeys((getattr(c.config.transfer, self.parameter), getattr(c.config.transfer, self.parameter2))
                                  for c in self.comparisons))


def independent(pairs: list[tuple]) -> bool:
    """Whether two settings varied each on its own: some value of the first was run with two values of the
    second, and some value of the second with two of the first. Two diagonal cells are not a grid: the two
    settings changed together, and no one can tell which of them made the difference."""
    firsts, seconds = {}, {}
    for first, second in pairs:
        firsts.setdefault(repr(first), set()).add(repr(second))
        seconds.setdefault(repr(second), set()).add(repr(first))
    return any(len(v) > 1 for v in firsts.values()) and any(len(v) > 1 for v in seconds.values())


def _two_setting_groups(comparisons: list[Comparison], pool: bool) -> list[tuple[GridGroup, bool]]:
    """Every bucket of comparisons that differ in exactly two sweepable settings, and whether they vary independently."""
    described, groups = _described(comparisons), []
    for i, parameter in enumerate(SWEEPABLE):
        for parameter2 in SWEEPABLE[i + 1:]:
            varied = {parameter, parameter2} | ({"seeds"} if pool else set())
            for fixed, members in _alike(described, varied):
                if all(len({repr(every[p]) for _, every in members}) > 1 for p in (parameter, parameter2)):
                    group = GridGroup(parameter, parameter2, fixed, [c for c, _ in members])
                    groups.append((group, independent(group.pairs())))
    return groups


def grid_groups(comparisons: list[Comparison], pool: bool = False) -> list[GridGroup]:
    """Every honest two-setting grid among ``comparisons`` (seeds may differ too with ``pool``): the members
    differ in two settings only, and each setting varies on its own (`independent`)."""
    return [group for group, honest in _two_setting_groups(comparisons, pool) if honest]


def tangled_pairs(comparisons: list[Comparison], pool: bool = False) -> list[GridGroup]:
    """Comparisons that differ in two settings only, which changed together (say freeze depth 0 with rate 1e-3
    and depth 3 with 1e-2): what a page says instead of drawing a grid whose difference has no single cause."""
    return [group for group, honest in _two_setting_groups(comparisons, pool) if not honest]


def pooled_point(comparisons: list[Comparison], parameter: str, value) -> dict:
    """One sweep point from every run of these comparisons: mean and spread over all their seeds.

    A run reused by another comparison is the same training, so it counts once.
    """
    def distinct(records: list[RunRecord]) -> list[RunRecord]:
        return list({r.reused_from or r.run_id: r for r in records}.values())

    return {parameter: value, "comparisons": len(comparisons),
            "comparison_id": comparisons[0].comparison_id,
            "transfer": aggregate(distinct([r for c in comparisons for r in c.transfer])),
            "scratch": aggregate(distinct([r for c in comparisons for r in c.scratch]))}
