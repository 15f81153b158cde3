"""`workbench ...`: the command line over the engine.

User mistakes end with a one-line ``error: ...`` and exit code 2; Ctrl-C saves the run in
progress as interrupted and exits with 130; a reader that closes the pipe early
(`workbench runs --json | head`) ends the command quietly with 141, as it ends `cat` or `seq`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from workbench import serve, sweep_cli
from workbench.config import ComparisonConfig, RunConfig
from workbench.errors import ConfigError, WorkbenchError
from workbench.inside import commands as inside_commands
from workbench.options import Option, option, shown_in
from workbench.run_index import FILTERS
from workbench.weights_cli import add_weights_command

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the status a shell shows for `seq 1000000 | head`


class _Parser(argparse.ArgumentParser):
    """argparse with the workbench's one-line ``error: ...`` (exit code 2) instead of usage + error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {message}\n")


def _argument_type(option: Option):
    """argparse ``type``: bad text becomes argparse's one-line error, range checks wait for validate."""

    def parse(text: str):
        try:
            return option.parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.kind
    return parse


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    """One option of the spec as a flag; choices and ranges are checked by `RunConfig.validate`."""
    if option.kind == "bool":
        parser.add_argument(option.cli_flag, dest=option.name, action="store_false" if option.default else "store_true",
                            help=option.help)
        return
    shown = f" (default {option.default if option.default is not None else option.none_means})"
    metavar = "{" + ",".join(map(str, option.options_for())) + "}" if option.kind == "choice" else None
    default = option.parse(option.default) if option.name == "seeds" else option.default
    parser.add_argument(option.cli_flag, dest=option.name, type=_argument_type(option), default=default,
                        metavar=metavar, help=option.help + shown)


def _add_run_options(parser: argparse.ArgumentParser, scopes: tuple[str, ...] = ("run",)) -> None:
    for option in shown_in("cli"):
        if option.scope in scopes:
            _add_option(parser, option)
    parser.add_argument("--runs-dir", default=None, help="run folder (default $WORKBENCH_RUNS or ./runs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def _run_config(args: argparse.Namespace, **overrides) -> RunConfig:
    names = {f.name for f in fields(RunConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(overrides)
    return RunConfig(**values)


class _ProgressBars:
    """A tqdm bar per run, on stderr so ``--json`` output stays clean."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def __call__(self, role: str, seed: int):
        from tqdm.auto import tqdm

        from workbench.train import Hooks

        quiet = self.quiet

        class Bar(Hooks):
            bar = None

            def on_start(self, record, steps_per_epoch):
                if record.reused_from:  # nothing to train: the same run is already in the store
                    print(f"{role} (seed {seed}): reused from run {record.reused_from}", file=sys.stderr)
                    return
                total = steps_per_epoch * record.config["epochs"]
                self.bar = tqdm(total=total, desc=f"{role} (seed {seed})", unit="step", disable=quiet, leave=True)

            def on_step(self, record, epoch, step, loss):
                self.bar.update(1)
                self.bar.set_postfix_str(f"epoch {epoch} loss {loss:.3f}", refresh=False)

            def on_epoch(self, record):
                last = record.epochs[-1]
                self.bar.set_postfix_str(f"epoch {last.epoch} val acc {100 * last.val_acc:.1f}%")

            def on_end(self, record):
                if self.bar is not None:
                    self.bar.close()

        return Bar()


def _store(args):
    from workbench.runs import RunStore

    return RunStore(args.runs_dir)


def cmd_compare(args) -> int:
    from workbench.experiment import run_comparison
    from workbench.report import comparison_table

    config = ComparisonConfig(_run_config(args), scratch_lr=args.scratch_lr, seeds=args.seeds)
    comparison = run_comparison(config, _store(args), hooks_for=_ProgressBars(args.json), reuse=not args.no_reuse)
    summary = comparison.summary()
    print(json.dumps(summary, indent=1) if args.json else comparison_table(summary))
    return 0


def cmd_train(args) -> int:
    from workbench.train import train_run

    config = _run_config(args, pretrained=not args.scratch, seed=args.seed)
    record = train_run(config, _store(args), hooks=_ProgressBars(args.json)("train", args.seed),
                       save_checkpoint=args.save_checkpoint)
    summary = record.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"run {record.run_id}: best val acc {100 * summary['best_val_acc']:.1f}%, "
              f"test acc {100 * summary['test_acc']:.1f}%, {summary['wall_s']:.1f} s")
    return 0


def cmd_backbones(args) -> int:
    from workbench.backbones import get_backbone, list_backbones

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
    from workbench.metrics import human_count

    print(f"{'backbone':22}{'params':>9}{'stages':>8}  {'offline':9}description")
    for row in rows:
        offline = "yes" if row["weights_offline"] else "download"
        print(f"{row['name']:22}{human_count(row['backbone_params']):>9}{len(row['stages']):>8}  {offline:9}"
              f"{row['description']}")
    return 0


def _explore_backbones(args) -> int:
    """The backbone explorer: static facts at the image size, and with --measure this machine's speed."""
    from workbench.explorer import explorer_rows, measure_backbones
    from workbench.explorer_plots import notes, text_table

    size = args.image_size if args.image_size is not None else option("image_size").default
    if args.measure:
        for result in measure_backbones(size, args.names, threads=args.threads):
            print(f"measured {result['name']} at {size} px: {result['latency_ms']:.1f} ms/img, "
                  f"{result['train_img_s']:.1f} training img/s", file=sys.stderr)
    rows = explorer_rows(size, args.names, threads=args.threads)
    print(json.dumps(rows, indent=1) if args.json else "\n".join([text_table(rows), "", *notes(rows)]))
    return 0


def cmd_datasets(args) -> int:
    from workbench.data import list_datasets

    for name, description in list_datasets().items():
        print(f"{name:20}{description}")
    return 0


def cmd_runs(args) -> int:
    from workbench.report import runs_table

    filters = {}
    for text in args.filter:
        key, equals, value = text.partition("=")
        if not equals:
            raise ConfigError(f"--filter takes KEY=VALUE, e.g. --filter backbone=resnet18; got {text!r}")
        filters.setdefault(key, []).append(_filter_value(value))
    rows, problems = _store(args).list_runs(**filters)
    if args.json:
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
    from workbench.lr_finder import find_lr

    result = find_lr(_run_config(args, pretrained=not args.scratch), steps=args.steps)
    if args.json:
        print(json.dumps({"lrs": result.lrs, "losses": result.losses, "suggested_lr": result.suggested_lr}))
    else:
        for lr, loss in zip(result.lrs, result.losses):
            print(f"{lr:10.2e}  {loss:.4f}")
        print(f"suggested lr: {result.suggested_lr:.2e}")
    return 0


def cmd_export(args) -> int:
    text = _store(args).export_csv(args.run_ids)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser("compare", help="fine-tune a pre-trained backbone and train it from scratch, side by side")
    _add_run_options(compare, scopes=("run", "comparison"))
    compare.add_argument("--no-reuse", action="store_true",
                         help="train every run, even one identical to a completed run in the store")
    compare.set_defaults(handler=cmd_compare)

    sweep_cli.add_command(commands, _add_run_options)

    train = commands.add_parser("train", help="one run")
    _add_run_options(train)
    train.add_argument("--scratch", action="store_true", help="random initial weights instead of pre-trained")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save-checkpoint", action="store_true", help="keep the trained weights in the run folder")
    train.set_defaults(handler=cmd_train)

    lr_find = commands.add_parser("lr-find", help="learning-rate range test")
    _add_run_options(lr_find)
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
    if unknown and not getattr(args, "passes_unknown_options", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.unknown_options = unknown
    try:
        return args.handler(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: the run in progress was saved as interrupted with its finished epochs", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
