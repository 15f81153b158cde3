"""`workbench data ...`: the class's gathered datasets from the terminal (the same shelf the dashboard fills).

list, import (zips of class folders, Teachable Machine sample zips, or a folder of class folders), export to a zip
that opens as ``imagefolder:`` anywhere, check (sessions per class, near-copies), delete. The terminal is the
teacher's: it sees and may change every dataset of the run folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.core import settings
from workbench.core.errors import DataError


def add_commands(commands) -> None:
    data = commands.add_parser("data", help="the class's own image datasets: list, import, export, check, delete")
    sub = data.add_subparsers(dest="data_command", required=True)

    def command(name: str, help: str, handler):
        parser = sub.add_parser(name, help=help)
        parser.add_argument("--runs-dir", default=None, help="the run folder whose datasets/ to use")
        parser.set_defaults(handler=handler)
        return parser

    listing = command("list", "every dataset: classes, images, capture sessions, owner, shared", cmd_list)
    listing.add_argument("--json", action="store_true")
    importing = command("import", "make a dataset from zips (class folders, or one Teachable Machine sample zip "
                                  "per class) or a folder of class folders", cmd_import)
    importing.add_argument("paths", nargs="+", metavar="PATH")
    importing.add_argument("--name", default=None, help="the dataset's name (default: the first PATH's name)")
    exporting = command("export", "write a dataset as a zip of class folders", cmd_export)
    exporting.add_argument("name", metavar="NAME")
    exporting.add_argument("-o", "--output", required=True, metavar="FILE.zip")
    checking = command("check", "before training: sessions per class, and near-copies across splits or classes",
                       cmd_check)
    checking.add_argument("name", metavar="NAME")
    checking.add_argument("--split-seed", type=int, default=0)
    checking.add_argument("--json", action="store_true")
    deleting = command("delete", "delete a dataset and its images", cmd_delete)
    deleting.add_argument("name", metavar="NAME")


def _shelf(args: argparse.Namespace):
    from workbench.data.gathered.shelf import DatasetShelf

    return DatasetShelf(Path(args.runs_dir) if args.runs_dir else settings.runs_dir())


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for dataset in _shelf(args).list():
        classes = {c: {"images": len(dataset.images(c)), "sessions": len(dataset.sessions(c))}
                   for c in dataset.classes()}
        rows.append({"name": dataset.name, "dataset": dataset.spec, "classes": classes, "images": dataset.count(),
                     "owner": "teacher" if dataset.owner is None else "a student", "shared": dataset.shared,
                     "created": dataset.created})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no datasets yet: `workbench data import FILE.zip`, or the dashboard's Your images tab")
        return 0
    print(f"{'name':24}{'images':>7}  {'owner':10}{'shared':7}classes (images/sessions)")
    for row in rows:
        classes = ", ".join(f"{c} {n['images']}/{n['sessions']}" for c, n in row["classes"].items())
        print(f"{row['name']:24}{row['images']:>7}  {row['owner']:10}{'yes' if row['shared'] else 'no':7}{classes}")
    return 0


def _folder_images(folder: Path) -> dict[str, list[tuple[str, bytes]]]:
    """A folder of class folders, read (not decoded: the shelf re-encodes each file and refuses what is not one)."""
    classes = {}
    for class_folder in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = [p for p in sorted(class_folder.rglob("*")) if p.is_file() and not p.is_symlink()
                 and not p.name.startswith(".")]
        classes[class_folder.name] = [(p.name, p.read_bytes()) for p in files]
    return classes


def cmd_import(args: argparse.Namespace) -> int:
    from workbench.data.gathered.archive import import_zips

    paths = [Path(p).expanduser() for p in args.paths]
    for path in paths:
        if not path.exists():
            raise DataError(f"{path} does not exist; give a .zip file or a folder of class folders")
    name = args.name or paths[0].stem
    shelf = _shelf(args)
    if len(paths) == 1 and paths[0].is_dir():
        dataset, batches = shelf.create(name, list(_folder_images(paths[0])), images=_folder_images(paths[0]),
                                        kind="import")
    else:
        if any(path.is_dir() for path in paths):
            raise DataError("give either one folder of class folders or one or more .zip files, not both")
        dataset, batches = import_zips(shelf, name, [(path.name, path) for path in paths])
    for batch in batches:
        for line in batch.refused:
            print(f"skipped: {line}")
    counts = ", ".join(f"{c} {len(dataset.images(c))} in {len(dataset.sessions(c))} session(s)"
                       for c in dataset.classes())
    print(f"dataset {dataset.name!r}: {dataset.count()} images ({counts}); train on it with "
          f"--dataset 'imagefolder:{dataset.folder}'")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from workbench.data.gathered.archive import export_zip

    dataset = _shelf(args).open(args.name)
    print(f"wrote {export_zip(dataset, args.output)} ({dataset.count()} images)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from workbench.data.gathered.checks import check_gathered

    dataset = _shelf(args).open(args.name)
    readiness = check_gathered(dataset.folder, args.split_seed)
    if args.json:
        print(json.dumps({"images": readiness.counts, "sessions": readiness.sessions, "ready": readiness.ready,
                          "problems": readiness.problems,
                          "near_copies": [vars(copy) for copy in readiness.near_copies]}, indent=1))
        return 0
    for class_name in sorted(readiness.counts):
        print(f"{class_name:24}{readiness.counts[class_name]:>5} images{readiness.sessions[class_name]:>4} sessions")
    for line in readiness.problems:
        print(f"to fix: {line}")
    for copy in readiness.near_copies:
        print(f"near-copy: {copy.line()}")
    print("ready to train" if readiness.ready else "not ready to train")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    shelf = _shelf(args)
    dataset = shelf.open(args.name)
    count = dataset.count()
    shelf.delete(dataset.name)
    print(f"deleted dataset {dataset.name!r} ({count} images)")
    return 0
