"""`workbench sweep`: a comparison for every value of one setting, or every pair of two, as one command."""

from __future__ import annotations

import json
import sys
from typing import Callable

from workbench.cli import estimate as estimate_cli
from workbench.core.errors import ConfigError
from workbench.experiments.executors import DEFAULT_WORKERS, EXECUTORS
from workbench.spec.config import ComparisonConfig
from workbench.spec.options import SWEEPABLE


def add_command(commands, add_run_options: Callable) -> None:
    """The subcommands on the CLI's subparsers: ``sweep``, and ``estimate``, which takes every option a sweep
    takes (its --param optional); ``add_run_options`` adds every option `compare` has."""
    _add_sweep_options(commands.add_parser("sweep", help="a comparison for every value of one setting, or every "
                                           "pair of two"), add_run_options, required=True)
    commands_estimate = commands.add_parser("estimate", help="how long a comparison, sweep or study takes on this "
                                            "machine; --fit MINUTES: the settings that fit a lesson")
    _add_sweep_options(commands_estimate, add_run_options, required=False)
    estimate_cli.add_options(commands_estimate)


def _add_sweep_options(sweep, add_run_options: Callable, required: bool) -> None:
    sweep.add_argument("--param", required=required, choices=SWEEPABLE, help="the setting to sweep")
    sweep.add_argument("--values", required=required, help="its values, e.g. \"0 1 2 3\" or \"1e-4 1e-3\"")
    sweep.add_argument("--param2", choices=SWEEPABLE, help="a second setting: a grid of every pair")
    sweep.add_argument("--values2", help="the second setting's values")
    sweep.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local (this machine) or ray (RAY_ADDRESS joins a cluster; pip install "
                            "'transfer-workbench[ray]')")
    sweep.add_argument("--workers", type=int, default=None,
                       help=f"local worker processes, the cores shared out between them (default {DEFAULT_WORKERS}, "
                            f"at most one per core)")
    sweep.add_argument("--no-reuse", action="store_true",
                       help="train every run, even one identical to a completed run in the store or the sweep")
    add_run_options(sweep, scopes=("run", "comparison"))
    sweep.set_defaults(handler=cmd_sweep)


def cmd_sweep(args) -> int:
    from workbench.cli.options import run_config
    from workbench.experiments.grids import parse_sweep_values
    from workbench.experiments.sweeps import run_sweep, sweep_grid, sweep_rows
    from workbench.jobs.queue import queue_slot
    from workbench.present.report import sweep_table
    from workbench.spec.preflight import preflight
    from workbench.store.runs import RunStore

    if (args.param2 is None) != (args.values2 is None):
        raise ConfigError("--param2 and --values2 go together: give both for a two-setting grid, or neither")
    base = ComparisonConfig(run_config(args), scratch_lr=args.scratch_lr, seeds=args.seeds)
    points = sweep_grid(base, args.param, parse_sweep_values(args.values, args.param), args.param2,
                        parse_sweep_values(args.values2, args.param2) if args.param2 else None)
    preflight([point.config for point in points])
    store = RunStore(args.runs_dir)
    if args.executor == "local":
        _say_estimate([point.config for point in points], store, args)
    with queue_slot(store.root, f"sweep over {args.param}" + (f" and {args.param2}" if args.param2 else ""),
                    [point.comparison_id for point in points]):
        comparisons = run_sweep(points, store, args.executor, args.workers, reuse=not args.no_reuse,
                                on_point_done=None if args.json else _say_done)
    rows = sweep_rows(points, comparisons)
    parameters = list(points[0].values)
    print(json.dumps({"parameters": parameters, "points": rows}, indent=1) if args.json
          else sweep_table(parameters, rows))
    return 0


def _say_done(point, comparison) -> None:
    """A line on stderr as each point finishes (the table waits for the whole grid)."""
    scratch = ", ".join(f"scratch reused from {r.reused_from}" for r in comparison.scratch if r.reused_from)
    settings = " ".join(f"{k}={v}" for k, v in point.values.items())
    print(f"done: {settings} ({comparison.comparison_id}){'; ' + scratch if scratch else ''}", file=sys.stderr)


def _say_estimate(configs: list[ComparisonConfig], store, args) -> None:
    """The sweep's total on stderr before it starts ("about 3.5 min on this machine")."""
    estimate_cli.say_total(f"{len(configs)} comparisons", configs, store, args.workers, reuse=not args.no_reuse)
