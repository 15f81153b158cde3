"""Reading comparisons back as lines and grids: which ones share every setting but one (or two), pooled over
the class; a grid is drawn only where both settings vary on their own, and what changed together is said.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.records import RunRecord
from workbench.experiments.comparisons import Comparison, aggregate
from workbench.spec.config import RunConfig
from workbench.spec.options import OPTIONS, SWEEPABLE


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
