"""`workbench ...`: the command line over the engine.

User mistakes end with a one-line ``error: ...`` and exit code 2; Ctrl-C saves the run in
progress as interrupted and exits with 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from workbench.config import ComparisonConfig, RunConfig, parse_seeds
from workbench.errors import ConfigError, WorkbenchError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _seeds(text: str) -> list[int]:
    try:
        return parse_seeds(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    d = RunConfig()
    add = parser.add_argument
    add("--backbone", default=d.backbone, help=f"architecture (default {d.backbone}; see `workbench backbones`)")
    add("--dataset", default=d.dataset, help=f"dataset (default {d.dataset}; see `workbench datasets`)")
    add("--train-per-class", type=int, default=d.train_per_class, help="training images per class (small data)")
    add("--image-size", type=int, default=d.image_size, help="square image side in pixels")
    add("--epochs", type=int, default=d.epochs)
    add("--batch-size", type=int, default=d.batch_size)
    add("--freeze", dest="freeze_depth", type=int, default=d.freeze_depth,
        help="freeze the first K stages (0 = fine-tune all; number of stages = linear probe)")
    add("--bn-policy", choices=("frozen", "train"), default=d.bn_policy,
        help="BatchNorm in frozen stages: keep ImageNet statistics (frozen) or re-estimate them (train)")
    add("--lr", type=float, default=d.lr, help="learning rate of the new head")
    add("--lr-backbone-mult", type=float, default=d.lr_backbone_mult, help="backbone stages learn at lr times this")
    add("--layer-decay", type=float, default=d.layer_decay, help="each earlier stage's rate is multiplied by this")
    add("--unfreeze-every", type=int, default=d.unfreeze_every, help="gradual unfreezing: thaw a stage every N epochs")
    add("--optimizer", choices=("adamw", "sgd"), default=d.optimizer)
    add("--schedule", choices=("constant", "cosine", "onecycle"), default=d.schedule)
    add("--weight-decay", type=float, default=d.weight_decay)
    add("--augment", action="store_true", help="random resized crops and flips on the training images")
    add("--no-cache", dest="cache_features", action="store_false",
        help="recompute frozen stages every step instead of caching their output")
    add("--no-channels-last", dest="channels_last", action="store_false", help="keep the NCHW memory layout")
    add("--cpu-bf16", action="store_true", help="bfloat16 autocast on the CPU")
    add("--compile", action="store_true", help="torch.compile each stage (minutes to compile on a CPU; for GPUs and long runs)")
    add("--init-run", default=None, metavar="RUN_ID",
        help="start from the stages a recorded run learned (saved with --save-checkpoint) instead of ImageNet")
    add("--split-seed", type=int, default=d.split_seed, help="seed of the train/val/test split")
    add("--target-acc", type=float, default=d.target_acc, help="validation accuracy that counts as reached")
    add("--device", choices=("auto", "cpu", "cuda"), default=d.device)
    add("--data-dir", default=None, help="where downloaded datasets live (default ./data)")
    add("--runs-dir", default=None, help="run folder (default $WORKBENCH_RUNS or ./runs)")
    add("--json", action="store_true", help="print one JSON object instead of the table")


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
    comparison = run_comparison(config, _store(args), hooks_for=_ProgressBars(args.json))
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

    rows = []
    for name in list_backbones():
        b = get_backbone(name)
        rows.append({"name": name, "description": b.description, "stages": b.stage_names(),
                     "stage_params": b.stage_param_counts(), "total_params": b.total_params(),
                     "image_size": b.image_size, "mean": b.mean, "std": b.std,
                     "weights_offline": b.weights_available_offline()})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from workbench.report import human_count

    print(f"{'backbone':22}{'params':>9}{'stages':>8}  {'offline':9}description")
    for row in rows:
        offline = "yes" if row["weights_offline"] else "download"
        print(f"{row['name']:22}{human_count(row['total_params']):>9}{len(row['stages']):>8}  {offline:9}{row['description']}")
    return 0


def cmd_datasets(args) -> int:
    from workbench.data import list_datasets

    for name, description in list_datasets().items():
        print(f"{name:20}{description}")
    return 0


def cmd_runs(args) -> int:
    from workbench.report import runs_table

    records, problems = _store(args).scan()
    if args.json:
        print(json.dumps({"runs": [r.summary() for r in records], "unreadable": problems}, indent=1))
    else:
        print(runs_table(records, problems))
    return 0


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
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser("compare", help="fine-tune a pre-trained backbone and train it from scratch, side by side")
    _add_run_options(compare)
    compare.add_argument("--scratch-lr", type=float, default=ComparisonConfig().scratch_lr, help="learning rate of the scratch run")
    compare.add_argument("--seeds", type=_seeds, default=[0], help="e.g. '0 1 2': curves then carry mean and spread")
    compare.set_defaults(handler=cmd_compare)

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
    backbones.add_argument("--json", action="store_true")
    backbones.set_defaults(handler=cmd_backbones)

    datasets = commands.add_parser("datasets", help="list datasets")
    datasets.set_defaults(handler=cmd_datasets)

    runs = commands.add_parser("runs", help="list recorded runs")
    runs.add_argument("--runs-dir", default=None)
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=cmd_runs)

    export = commands.add_parser("export", help="export runs' per-epoch records")
    export.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    export.add_argument("--csv", action="store_true", required=True, help="CSV (the one format for now)")
    export.add_argument("--output", "-o", default=None, help="file to write (default: stdout)")
    export.add_argument("--runs-dir", default=None)
    export.set_defaults(handler=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
