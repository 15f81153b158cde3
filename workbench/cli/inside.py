"""`workbench inside`, `predict`, `export-model` and `checkpoints`: the views and the models on the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.core.errors import ConfigError
from workbench.core.settings import KEEP_CHECKPOINTS_ENV, keep_checkpoints
from workbench.inside import EXPORT_FORMATS, VIEW_NAMES
from workbench.store.runs import RunStore


def cmd_inside(args) -> int:
    from workbench.inside.networks import load_networks
    from workbench.inside.photo import read_file
    from workbench.inside.views import VIEWS, html_page

    views = args.view or [name for name in VIEW_NAMES if name != "photo" or args.photo]
    if "photo" in views and not args.photo:
        raise ConfigError("the photo view needs an image: add --photo IMAGE")
    networks = load_networks(RunStore(args.runs_dir), args.comparison_id)
    sections = []
    for name in views:
        view = VIEWS[name]
        options = {"data": read_file(args.photo), "name": args.photo} if name == "photo" else {}
        result = view.compute(networks, **options)
        lines = view.describe(result)
        print(f"== {view.title}\n" + "\n".join(lines))
        sections.append((view.title, lines, view.draw(networks, result)))
    output = Path(args.output or f"inside-{args.comparison_id}.html")
    output.write_text(html_page(f"Inside the networks of {args.comparison_id}", sections))
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, opens offline)")
    return 0


def cmd_predict(args) -> int:
    from workbench.inside.photo import predict_files

    results = predict_files(RunStore(args.runs_dir), args.run_id, args.images, args.top)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for result in results:
        print(f"{result['image']}: " + ", ".join(f"{t['class']} {t['probability']:.1%}" for t in result["top"]))
    return 0


def cmd_export_model(args) -> int:
    from workbench.inside.export import TOLERANCE, export_model

    report = export_model(RunStore(args.runs_dir), args.run_id, args.format, args.output)
    print(f"wrote {report.path} ({report.bytes / 1e6:.1f} MB, {report.format}); on {report.images} validation images "
          f"its logits differ from the workbench's by at most {report.max_abs_diff:.1e} (limit {TOLERANCE:g})")
    return 0


def cmd_checkpoints(args) -> int:
    store = RunStore(args.runs_dir)
    keep = keep_checkpoints() if args.keep is None else args.keep
    if args.prune or args.keep is not None:
        pruned = store.prune_checkpoints(keep)
        print(f"pruned the weights of {len(pruned)} run(s) outside the newest {keep} comparisons; every record stays")
    sizes = store.checkpoint_sizes()
    by_comparison: dict[str, list[int]] = {}
    records, unreadable = store.scan()
    for record in records:
        if record.run_id in sizes:
            by_comparison.setdefault(record.comparison_id or f"{record.run_id} (single run)", []).append(sizes[record.run_id])
    for name, runs in by_comparison.items():
        print(f"{name:40}{len(runs):>3} run(s){sum(runs) / 1e6:>9.1f} MB")
    for run_id, problem in unreadable.items():
        weights = f"{sizes[run_id] / 1e6:.1f} MB of weights; " if run_id in sizes else ""
        print(f"{run_id:40}unreadable ({weights}{problem})")
    print(f"{sum(sizes.values()) / 1e6:.1f} MB of weights in {store.root}; comparisons keep theirs while among the "
          f"newest {keep} (${KEEP_CHECKPOINTS_ENV}, default 20)")
    return 0


def _at_least(minimum: int):
    """An argparse type: a whole number of ``minimum`` or more (argparse prints the one-line error)."""

    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {minimum} or more")
        return int(text)

    return parse


def add_commands(commands) -> None:
    """Register the commands on `workbench`'s sub-parser list."""

    inside = commands.add_parser("inside", help="look inside a finished comparison's networks (one HTML page)")
    inside.add_argument("comparison_id", metavar="COMPARISON_ID")
    inside.add_argument("--view", nargs="+", choices=VIEW_NAMES, help="views to show (default: all; photo with --photo)")
    inside.add_argument("--photo", help="an image file for the 'your own photo' view")
    inside.add_argument("--output", "-o", help="HTML file to write (default inside-COMPARISON_ID.html)")
    inside.add_argument("--runs-dir")
    inside.set_defaults(handler=cmd_inside)

    predict = commands.add_parser("predict", help="classify image files with a run's trained network")
    predict.add_argument("run_id", metavar="RUN_ID")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top", type=_at_least(1), default=3, help="how many classes to show (default 3)")
    predict.add_argument("--json", action="store_true")
    predict.add_argument("--runs-dir")
    predict.set_defaults(handler=cmd_predict)

    export = commands.add_parser("export-model", help="a run's trained network as ONNX or torch.export, checked")
    export.add_argument("run_id", metavar="RUN_ID")
    export.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    export.add_argument("--output", "-o", required=True, help="file to write, e.g. model.onnx or model.pt2")
    export.add_argument("--runs-dir")
    export.set_defaults(handler=cmd_export_model)

    checkpoints = commands.add_parser("checkpoints", help="disk used by kept weights; prune to the newest comparisons")
    checkpoints.add_argument("--keep", type=_at_least(0), help=f"keep the newest N comparisons' weights (default "
                                                                f"${KEEP_CHECKPOINTS_ENV} or 20) and prune now")
    checkpoints.add_argument("--prune", action="store_true", help="prune now to the default budget")
    checkpoints.add_argument("--runs-dir")
    checkpoints.set_defaults(handler=cmd_checkpoints)
