"""`workbench estimate`: how long a comparison, a sweep or a study takes on this machine, before it starts;
``--fit MINUTES``: the settings that fit a lesson's minutes."""

from __future__ import annotations

import json
import sys

from workbench.core.errors import ConfigError
from workbench.spec.config import ComparisonConfig
from workbench.spec.options import option


def add_options(estimate) -> None:
    """What `estimate` takes besides the sweep's options (`cli.sweep` adds those: it takes what sweep takes)."""
    estimate.add_argument("--study", default=None, metavar="STUDY",
                          help="estimate a study (`workbench reproduce STUDY`) instead of a comparison")
    estimate.add_argument("--quick", action="store_true", help="with --study: its quick settings")
    estimate.add_argument("--study-seeds", type=int, default=3, help="with --study: how many seeds (default 3)")
    estimate.add_argument("--fit", type=float, default=None, metavar="MINUTES",
                          help="list the image sizes, freeze depths and epochs of --backbone that fit in MINUTES")
    estimate.set_defaults(handler=cmd_estimate)


def say_measuring(configs: list[ComparisonConfig], workers: int | None) -> None:
    """A line on stderr when the estimate will first measure this machine (a second or two, once)."""
    from workbench.core import settings
    from workbench.training.calibrate import cached_rate

    parallel = (workers is None or workers > 1) and len(configs) > 1
    threads = settings.threads_per_share(min(2, settings.cores()) if workers is None else workers) if parallel \
        else None
    if any(cached_rate(c.transfer.backbone, c.transfer.image_size, c.transfer.batch_size, threads) is None
           for c in configs):
        print("measuring this machine… (once)", file=sys.stderr)


def _configs(args) -> tuple[list[ComparisonConfig], list, list[str], int | None]:
    """The comparisons the options ask for, which runs of each are read, a label for each, and the workers."""
    from workbench.cli.options import run_config
    from workbench.experiments.grids import parse_sweep_values
    from workbench.experiments.sweeps import sweep_grid

    base = ComparisonConfig(run_config(args), scratch_lr=args.scratch_lr, seeds=args.seeds)
    if args.study:
        return _study_configs(args)
    if args.param is None:
        if args.values is not None or args.param2 is not None:
            raise ConfigError("--values and --param2 go with --param: give the setting to sweep")
        return [base], [None], [""], 1
    if args.values is None:
        raise ConfigError("--param needs --values, e.g. --param freeze_depth --values \"0 3 6\"")
    if (args.param2 is None) != (args.values2 is None):
        raise ConfigError("--param2 and --values2 go together: give both for a two-setting grid, or neither")
    points = sweep_grid(base, args.param, parse_sweep_values(args.values, args.param), args.param2,
                        parse_sweep_values(args.values2, args.param2) if args.param2 else None)
    labels = [" ".join(f"{k}={v}" for k, v in p.values.items()) for p in points]
    return [p.config for p in points], [None] * len(points), labels, args.workers


def _study_configs(args):
    from workbench.studies import STUDIES

    if args.study not in STUDIES:
        raise ConfigError(f"unknown study {args.study!r}; use one of {', '.join(STUDIES)}")
    if args.study_seeds < 1:
        raise ConfigError("--study-seeds must be at least 1")
    return (*study_configs(args.study, list(range(args.study_seeds)), args.quick), 1)


def study_configs(name: str, seeds: list[int], quick: bool) -> tuple[list[ComparisonConfig], list, list[str]]:
    """A study's comparisons as `run_study` trains them (its source runs first), which runs of each it reads,
    and a label for each."""
    from workbench.studies import STUDIES
    from workbench.studies.core import seeded

    study = STUDIES[name]
    configs, only, labels = [], [], []
    for seed in seeds:  # the runs the points start from, trained first, one per seed
        for source, run in (study.sources(quick) if study.sources else {}).items():
            configs.append(ComparisonConfig(run, seeds=[seed]))
            only.append({("transfer", seed)})
            labels.append(f"source {source}")
    for point in study.points(quick):
        for seed in seeds:
            configs.append(seeded(point.config, seed))
            only.append(None if point.with_scratch else {("transfer", seed)})
            labels.append(f"{point.arm} at {point.x}")
    return configs, only, labels


def cmd_estimate(args) -> int:
    if args.fit is not None:
        return _fit(args)
    from workbench.experiments.estimate import estimate, human_seconds
    from workbench.store.runs import RunStore

    configs, only, labels, workers = _configs(args)
    for config in configs:
        config.validate()  # a mistake in one line, before anything is measured
    say_measuring(configs, workers)
    result = estimate(configs, None if args.no_reuse else RunStore(args.runs_dir), workers,
                      reuse=not args.no_reuse, only=only)
    if args.json:
        print(json.dumps({**result.to_dict(), "labels": labels, "line": result.line()}, indent=1))
        return 0
    print(f"{'comparison':34}{'run':10}{'seed':>5}{'expected':>11}  note")
    for run in result.runs:
        note = f"copied: {run.reused}" if run.reused else ""
        label = labels[run.comparison] or f"#{run.comparison + 1}"
        print(f"{label[:33]:34}{run.role:10}{run.seed:>5}{human_seconds(run.seconds) if not run.reused else '0 s':>11}"
              f"  {note}")
    for note in result.notes:
        print(f"note: {note}")
    workers_said = f" ({result.workers} workers)" if result.workers > 1 else ""
    print(f"total: {result.line()}{workers_said}")
    return 0


def _fit(args) -> int:
    from workbench.experiments.estimate import fits, human_seconds

    if args.fit <= 0:
        raise ConfigError(f"--fit takes the lesson's minutes, a positive number; got {args.fit:g}")
    if args.param is not None or args.study:
        raise ConfigError("--fit chooses image size, freeze depth and epochs itself; leave out --param and --study")
    configs, *_ = _configs(args)
    print(f"measuring this machine for {configs[0].transfer.backbone} at each image size… (once)", file=sys.stderr)
    found = fits(args.fit, configs[0])
    if args.json:
        print(json.dumps({"minutes": args.fit, "backbone": configs[0].transfer.backbone,
                          "fits": [f.to_dict() for f in found]}, indent=1))
        return 0
    if not found:
        print(f"nothing fits in {args.fit:g} min with {configs[0].transfer.backbone} here; "
              f"try more minutes, fewer --seeds or --train-per-class, or a smaller backbone")
        return 0
    print(f"what fits in {args.fit:g} min with {configs[0].transfer.backbone} on this machine, best first "
          f"(a comparison: transfer and scratch, {len(configs[0].seeds)} seed(s)):")
    print(f"{option('image_size').label:>16}{'freeze depth':>14}{'epochs':>8}{'expected':>11}")
    for fit in found:
        print(f"{fit.image_size:>16}{fit.freeze_depth:>14}{fit.epochs:>8}{human_seconds(fit.seconds):>11}")
    return 0


def say_total(what: str, configs: list[ComparisonConfig], store, workers: int | None, reuse: bool = True,
              only: list | None = None) -> None:
    """'<what>: about N s on this machine' on stderr, before a sweep or a study starts (nothing if it cannot tell)."""
    from workbench.core.errors import WorkbenchError
    from workbench.experiments.estimate import estimate

    try:
        say_measuring(configs, workers)
        found = estimate(configs, store if reuse else None, workers, reuse=reuse, only=only)
    except WorkbenchError:
        return
    print(f"{what}: {found.line()}", file=sys.stderr)

