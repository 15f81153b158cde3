"""`workbench ...`: the command line over the engine.

User mistakes end with a one-line ``error: ...`` and exit code 2; Ctrl-C saves the run in
progress as interrupted and exits with 130 (SIGTERM too, exiting with 143); a reader that closes the pipe early
(`workbench runs --json | head`) ends the command quietly with 141, as it ends `cat` or `seq`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from workbench.cli import data as data_commands
from workbench.cli import inside as inside_commands
from workbench.cli import lesson as lesson_commands
from workbench.cli import reproduce as study_commands
from workbench.cli import serve
from workbench.cli import sweep as sweep_cli
from workbench.cli.estimate import say_total
from workbench.cli.exits import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    Terminated,
    stops_on_signals,
)
from workbench.cli.options import Parser, add_run_options, known_flags, run_config, unrecognized
from workbench.cli.progress import ProgressBars
from workbench.cli.weights import add_weights_command
from workbench.core.errors import ConfigError, WorkbenchError
from workbench.spec.config import ComparisonConfig
from workbench.spec.options import option
from workbench.store.filters import FILTERS


def _store(args):
    from workbench.store.runs import RunStore

    return RunStore(args.runs_dir)


def cmd_compare(args) -> int:
    from workbench.experiments.runner import run_comparison
    from workbench.jobs.queue import queue_slot
    from workbench.present.report import comparison_table
    from workbench.spec.preflight import preflight
    from workbench.store.runs import new_id

    config = ComparisonConfig(run_config(args), scratch_lr=args.scratch_lr, seeds=args.seeds)
    preflight([config])
    store, comparison_id = _store(args), new_id("c-")
    say_total("comparison", [config], store, 1, reuse=not args.no_reuse)  # it also decides: the two runs at once?
    with queue_slot(store.root, "comparison", [comparison_id]):
        summary = run_comparison(config, store, hooks_for=ProgressBars(args.json), reuse=not args.no_reuse,
                                 comparison_id=comparison_id, keep_weights=True).summary()
    print(json.dumps(summary, indent=1) if args.json else comparison_table(summary))
    return 0


def cmd_train(args) -> int:
    from workbench.spec.preflight import preflight
    from workbench.training.train import train_run

    config = run_config(args, pretrained=not args.scratch, seed=args.seed)
    preflight([ComparisonConfig(config)])
    record = train_run(config, _store(args), hooks=ProgressBars(args.json)("train", args.seed),
                       save_checkpoint=args.save_checkpoint)
    summary = record.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"run {record.run_id}: best val acc {100 * summary['best_val_acc']:.1f}%, "
              f"test acc {100 * summary['test_acc']:.1f}%, {summary['wall_s']:.1f} s")
    return 0


def cmd_backbones(args) -> int:
    from workbench.models.backbones import get_backbone, list_backbones

    if args.measure or args.image_size is not None or args.names:
        return _explore_backbones(args)
    rows = []
    for name in list_backbones():
        b = get_backbone(name)
        rows.append({"name": name, "description": b.description, "stages": b.stage_names(),
                     "stage_params": b.stage_param_counts(), "backbone_params": b.backbone_params(),
                     "total_params": b.total_params(),
                     "image_size": b.image_size, "mean": b.mean, "std": b.std,
                     "weights_offline": b.weights_available_offline()})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from workbench.core.metrics import human_count

    print(f"{'backbone':22}{'params':>9}{'stages':>8}  {'offline':9}description")
    for row in rows:
        offline = "yes" if row["weights_offline"] else "download"
        print(f"{row['name']:22}{human_count(row['backbone_params']):>9}{len(row['stages']):>8}  {offline:9}"
              f"{row['description']}")
    return 0


def _explore_backbones(args) -> int:
    """The backbone explorer: static facts at the image size, and with --measure this machine's speed."""
    from workbench.explorer.measure import explorer_rows, measure_backbones
    from workbench.explorer.plots import notes, text_table

    size = args.image_size if args.image_size is not None else option("image_size").default
    if args.measure:
        for result in measure_backbones(size, args.names, threads=args.threads):
            print(f"measured {result['name']} at {size} px: {result['latency_ms']:.1f} ms/img, "
                  f"{result['train_img_s']:.1f} training img/s", file=sys.stderr)
    rows = explorer_rows(size, args.names, threads=args.threads)
    print(json.dumps(rows, indent=1) if args.json else "\n".join([text_table(rows), "", *notes(rows)]))
    return 0


def cmd_datasets(args) -> int:
    from workbench.data.loading import list_datasets

    for name, description in list_datasets().items():
        print(f"{name:20}{description}")
    return 0


def cmd_runs(args) -> int:
    from workbench.present.report import runs_table

    filters = {}
    for text in args.filter:
        key, equals, value = text.partition("=")
        if not equals:
            raise ConfigError(f"--filter takes KEY=VALUE, e.g. --filter backbone=resnet18; got {text!r}")
        filters.setdefault(key, []).append(_filter_value(value))
    store = _store(args)
    rows, problems = store.list_runs(**filters)
    if args.json:
        predictions = store.predictions.all()  # what was predicted before each comparison ran, with each of its runs
        rows = [{**row, "prediction": p.to_dict() if (p := predictions.get(row.get("comparison_id"))) else None}
                for row in rows]
        print(json.dumps({"runs": rows, "unreadable": problems}, indent=1))
    else:
        print(runs_table(rows, problems))
    return 0


def _filter_value(text: str):
    """'3' -> 3, '1e-3' -> 0.001, 'true' -> True, anything else stays text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_lr_find(args) -> int:
    from workbench.training.lr_finder import find_lr

    result = find_lr(run_config(args, pretrained=not args.scratch), steps=args.steps)
    if args.json:
        print(json.dumps({"lrs": result.lrs, "losses": result.losses, "suggested_lr": result.suggested_lr}))
    else:
        for lr, loss in zip(result.lrs, result.losses):
            print(f"{lr:10.2e}  {loss:.4f}")
        print(f"suggested lr: {result.suggested_lr:.2e}")
    return 0


def cmd_export(args) -> int:
    """The readable runs' epochs; each unreadable run is named on stderr with why, and the exit status is 2."""
    unreadable: dict[str, str] = {}
    text = _store(args).export_csv(args.run_ids, unreadable)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    for problem in unreadable.values():
        print(f"error: {problem}; left out of the export", file=sys.stderr)
    return EXIT_USAGE if unreadable else 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="workbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser("compare", help="fine-tune a pre-trained backbone and train it from scratch, side by side")
    add_run_options(compare, scopes=("run", "comparison"))
    compare.add_argument("--no-reuse", action="store_true",
                         help="train every run, even one identical to a completed run in the store")
    compare.set_defaults(handler=cmd_compare)

    sweep_cli.add_command(commands, add_run_options)

    train = commands.add_parser("train", help="one run")
    add_run_options(train)
    train.add_argument("--scratch", action="store_true", help="random initial weights instead of pre-trained")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save-checkpoint", action="store_true", help="keep the trained weights in the run folder")
    train.set_defaults(handler=cmd_train)

    lr_find = commands.add_parser("lr-find", help="learning-rate range test")
    add_run_options(lr_find)
    lr_find.add_argument("--scratch", action="store_true")
    lr_find.add_argument("--steps", type=int, default=60)
    lr_find.set_defaults(handler=cmd_lr_find)

    backbones = commands.add_parser("backbones", help="list architectures, stages and weight availability")
    backbones.add_argument("names", nargs="*", metavar="NAME", help="only these backbones, in the explorer's table")
    backbones.add_argument("--json", action="store_true")
    backbones.add_argument("--measure", action="store_true",
                           help="the explorer: also time inference and training of each backbone on this machine")
    backbones.add_argument("--image-size", type=int, default=None,
                           help=f"the explorer's image size for FLOPs and timing (default {option('image_size').default})")
    backbones.add_argument("--threads", type=int, default=None,
                           help="CPU threads for --measure (default: torch's, as a run uses)")
    backbones.set_defaults(handler=cmd_backbones)
    add_weights_command(commands)

    datasets = commands.add_parser("datasets", help="list datasets")
    datasets.set_defaults(handler=cmd_datasets)
    data_commands.add_commands(commands)

    runs = commands.add_parser("runs", help="list recorded runs")
    runs.add_argument("--runs-dir", default=None)
    runs.add_argument("--json", action="store_true")
    runs.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                      help="only runs with this value (repeat: AND across keys, OR within one); keys: "
                           + ", ".join(FILTERS))
    runs.set_defaults(handler=cmd_runs)

    export = commands.add_parser("export", help="export runs' per-epoch records")
    export.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    export.add_argument("--csv", action="store_true", required=True, help="CSV (the one format for now)")
    export.add_argument("--output", "-o", default=None, help="file to write (default: stdout)")
    export.add_argument("--runs-dir", default=None)
    export.set_defaults(handler=cmd_export)

    serve.add_commands(commands)
    inside_commands.add_commands(commands)
    study_commands.add_commands(commands)
    lesson_commands.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _dispatch(argv)
        finally:
            sys.stdout.flush()  # here rather than at exit, so that a closed pipe is caught below
    except BrokenPipeError:
        # Unix tools die of SIGPIPE without a word; Python ignores that signal and raises instead.
        # Output now goes nowhere, so the interpreter's own last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _dispatch(argv: list[str] | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    refused = unknown
    if getattr(args, "passes_unknown_options", False):  # `dashboard`: Streamlit's options all have a dot in them
        before = unknown[:unknown.index("--")] if "--" in unknown else unknown
        refused = [t for t in before if t.startswith("--") and "." not in t.split("=", 1)[0]]
    if refused:
        parser.error(unrecognized(refused, known_flags(parser, args)))
    args.unknown_options = unknown
    try:
        with stops_on_signals():
            return args.handler(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print("interrupted: every run in progress was saved as interrupted with its finished epochs", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
