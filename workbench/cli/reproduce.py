"""`workbench reproduce STUDY`: run a study, print what the paper reports beside what was measured here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.core.errors import ConfigError

DEFAULT_SEEDS = 3


class _StudyNames:
    """The studies' names for argparse, read from the catalogue only when a command needs them (it imports torch)."""

    def _names(self) -> list[str]:
        from workbench.studies import STUDIES

        return list(STUDIES)

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


def _described(parser: argparse.ArgumentParser) -> None:
    """List the studies in ``--help`` without loading them for every other command."""
    plain = parser.format_help

    def format_help() -> str:
        from workbench.studies import STUDIES

        parser.description = "Studies: " + "; ".join(f"{s.name}: {s.title}" for s in STUDIES.values()) + "."
        return plain()

    parser.format_help = format_help


def add_commands(commands) -> None:
    reproduce = commands.add_parser(
        "reproduce", help="reproduce a classic transfer-learning result, with seeds and spread",
        epilog="Each point is an ordinary comparison in the run store (the dashboard's Compare tab shows it); "
               "runs already in the store with the same settings are reused.")
    _described(reproduce)
    reproduce.add_argument("study", choices=_StudyNames(), metavar="STUDY", help="the study's name (see --help)")
    reproduce.add_argument("--quick", action="store_true", help="tiny settings: seconds to a couple of minutes")
    reproduce.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                           help=f"how many seeds, each its own start and split (default {DEFAULT_SEEDS})")
    reproduce.add_argument("--json", action="store_true", help="print the result as one JSON object")
    reproduce.add_argument("--html", default=None, metavar="FILE", help="also write the figure as an HTML file")
    reproduce.add_argument("--runs-dir", default=None, help="run folder (default $WORKBENCH_RUNS or ./runs)")
    reproduce.set_defaults(handler=cmd_reproduce)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from workbench.cli.estimate import say_total, study_configs
    from workbench.jobs.queue import queue_slot
    from workbench.store.runs import RunStore
    from workbench.studies import STUDIES, run_study
    from workbench.studies.report import study_text

    if args.seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    study = STUDIES[args.study]

    def say(point, seed) -> None:
        if not args.json:
            print(f"done: {point.arm} at {point.x} (seed {seed})", file=sys.stderr)

    store = RunStore(args.runs_dir)
    configs, only, _ = study_configs(study.name, list(range(args.seeds)), args.quick)
    say_total(f"study {study.name}", configs, store, 1, only=only)  # its total, before it starts
    with queue_slot(store.root, f"study {study.name}"):
        result = run_study(study, store, list(range(args.seeds)), args.quick, on_point=say)
    data = result.to_dict()
    if args.html:
        from workbench.studies.plots import study_figure

        try:
            study_figure(data).write_html(args.html, include_plotlyjs=True)
        except OSError as exc:
            raise ConfigError(f"cannot write {args.html}: {exc.strerror}") from None
    print(json.dumps(data, indent=1) if args.json else study_text(result))
    if args.html and not args.json:
        print(f"figure: {Path(args.html).resolve()}")
    return 0
