"""Laying out many comparisons from one base: a sweep over one setting, a grid over two, or a form's values."""

from __future__ import annotations

from dataclasses import replace

from workbench.core.errors import ConfigError
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.options import SWEEPABLE, option


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
