"""`workbench lesson list|check|run`: the lessons that ship, a lesson file checked line by line, and its class
experiment run here (what a teacher's note says it shows, measured on this machine)."""

from __future__ import annotations

import json
import sys

from workbench.core.errors import ConfigError
from workbench.spec.lesson_files import find_lesson, shipped_lessons


def add_commands(commands) -> None:
    lesson = commands.add_parser("lesson", help="lesson files: list the shipped ones, check one, run its experiment")
    verbs = lesson.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="the lessons that ship with the workbench").set_defaults(handler=cmd_list)
    check = verbs.add_parser("check", help="check lesson files (one line per problem)")
    check.add_argument("files", nargs="+", help="lesson files (.toml) or names of shipped lessons")
    check.set_defaults(handler=cmd_check)
    run = verbs.add_parser("run", help="run a lesson's class experiment: one comparison per value the board draws")
    run.add_argument("lesson", help="a lesson file or the name of a shipped lesson")
    run.add_argument("--seeds", default=None, help="seeds, e.g. '0 1 2' (default: the lesson's)")
    run.add_argument("--quick", action="store_true", help="tiny images, one epoch, two images per class: a check")
    run.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core, 2)")
    run.add_argument("--runs-dir", default=None, help="run folder (default $WORKBENCH_RUNS or ./runs)")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    run.set_defaults(handler=cmd_run)


def cmd_list(args) -> int:
    for name, path in shipped_lessons().items():
        lesson = find_lesson(str(path))
        print(f"{name:40} {lesson.title}")
    return 0


def cmd_check(args) -> int:
    """Every file checked; one line each, 'ok' or what to fix; exit 2 if any failed."""
    failed = 0
    for name in args.files:
        try:
            lesson = find_lesson(name)
        except ConfigError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        free = ", ".join(f"{n} ({f.describe()})" for n, f in lesson.free.items())
        print(f"ok: {name}: {lesson.title!r}; students change {free}; the board draws a {lesson.chart} over "
              f"{' and '.join(lesson.over)}")
    return 2 if failed else 0


def cmd_run(args) -> int:
    from workbench.experiments.sweeps import SweepPoint, run_sweep, sweep_rows
    from workbench.jobs.queue import queue_slot
    from workbench.present.report import sweep_table
    from workbench.spec.options import parse_seeds
    from workbench.spec.preflight import preflight
    from workbench.store.runs import RunStore

    lesson = find_lesson(args.lesson)
    configs = lesson.class_configs(args.quick, parse_seeds(args.seeds) if args.seeds is not None else None)
    points = [SweepPoint({name: getattr(c.transfer, name) for name in lesson.over}, c) for c in configs]
    preflight(configs)
    store = RunStore(args.runs_dir)
    with queue_slot(store.root, f"lesson: {lesson.title}", [p.comparison_id for p in points]):
        comparisons = run_sweep(points, store, workers=args.workers)
    rows = sweep_rows(points, comparisons)
    print(json.dumps({"lesson": lesson.title, "parameters": list(lesson.over), "points": rows}, indent=1)
          if args.json else sweep_table(list(lesson.over), rows))
    return 0
