"""`workbench weights ...`: get a classroom's pre-trained weights ready before the lesson.

Kept apart from cli.py because it is its own small tool: list, fetch, verify, pack, unpack.
The engine work happens in workbench.models.weights.status, weights_download and weights_pack.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.cli.exits import EXIT_INTERRUPTED
from workbench.core.errors import ConfigError
from workbench.core.settings import MIRROR_ENV, weights_mirror

_MB = 1 << 20  # torchvision's published file sizes are in these


def add_weights_command(commands) -> None:
    """Add ``weights`` and its subcommands to the ``workbench`` parser's subcommands."""
    weights = commands.add_parser("weights", help="list, fetch, verify, pack and unpack pre-trained weights (offline classrooms)")
    sub = weights.add_subparsers(dest="weights_command", required=True)

    listing = sub.add_parser("list", help="each backbone's weights: shipped, cached or missing, and whether they verify")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)

    fetch = sub.add_parser("fetch", help="download weights into $TORCH_HOME/hub/checkpoints, verified against their hash")
    fetch.add_argument("names", nargs="*", metavar="BACKBONE")
    fetch.add_argument("--all", action="store_true", help="every backbone whose weights are downloaded")
    fetch.add_argument("--mirror", metavar="URL", default=None,
                       help=f"download URL/FILE_NAME from a school's own server (default ${MIRROR_ENV}, else the upstream host)")
    fetch.set_defaults(handler=cmd_fetch)

    verify = sub.add_parser("verify", help="re-check every weights file on this machine against its hash")
    verify.set_defaults(handler=cmd_verify)

    pack = sub.add_parser("pack", help="put verified cached weights into one zip, to carry to other machines")
    pack.add_argument("zip", metavar="FILE.zip")
    pack.add_argument("names", nargs="*", metavar="BACKBONE", help="default: every cached backbone")
    pack.set_defaults(handler=cmd_pack)

    unpack = sub.add_parser("unpack", aliases=["import"], help="verify a zip made by `pack` and place its weights in the cache")
    unpack.add_argument("zip", metavar="FILE.zip")
    unpack.set_defaults(handler=cmd_unpack)


def cmd_list(args: argparse.Namespace) -> int:
    from workbench.models.weights.sources import TorchvisionWeights
    from workbench.models.weights.status import weights_files

    files = weights_files(check=True)
    if args.json:
        print(json.dumps([file.as_dict() for file in files], indent=1))
        return 0
    print(f"{'backbone':20}{'state':9}{'size':>10}  {'verifies':10}file")
    for f in files:
        size = f"{f.size / _MB:.1f} MB" if f.size else f"{f.download_mb:.1f} MB" if f.download_mb else "-"
        verified = "-" if f.verified is None else "yes" if f.verified else "NO"
        where = f"{f.path}" if f.state != "missing" else f"{f.file_name or '-'}   get it: {f.how_to_get}"
        print(f"{f.backbone:20}{f.state:9}{size:>10}  {verified:10}{where}")
    ready = sum(f.state != "missing" for f in files)
    source = weights_mirror() or "the upstream hosts"
    print(f"{ready} of {len(files)} ready offline; cache {TorchvisionWeights.cache_dir()}; downloads from {source}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from workbench.models.weights.status import downloadable, fetch

    if bool(args.names) == args.all:
        raise ConfigError("name the backbones to fetch (e.g. `workbench weights fetch resnet18`) or give --all, not both")
    try:
        for line in fetch(downloadable() if args.all else args.names, mirror=args.mirror):
            print(line, flush=True)
    except KeyboardInterrupt:
        print("interrupted: the download in progress was discarded; nothing partial is left in the cache", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from workbench.models.weights.status import raise_if_corrupt, verify

    files = verify()
    for f in files:
        print(f"{'ok' if f.verified else 'CORRUPT':9}{f.backbone:20}{f.path}")
    raise_if_corrupt(files)
    print(f"all {len(files)} weights files on this machine match their SHA-256")
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from workbench.models.weights.pack import pack

    manifest = pack(Path(args.zip), args.names)
    total = sum(entry["bytes"] for entry in manifest.values())
    print(f"packed {len(manifest)} verified weights file(s) ({total / _MB:.1f} MB) into {args.zip}: "
          f"{', '.join(entry['backbone'] for entry in manifest.values())}")
    print(f"on each machine: workbench weights unpack {args.zip}")
    return 0


def cmd_unpack(args: argparse.Namespace) -> int:
    from workbench.models.weights.pack import unpack
    from workbench.models.weights.sources import TorchvisionWeights

    placed = unpack(Path(args.zip))
    print(f"verified and placed {len(placed)} weights file(s) in {TorchvisionWeights.cache_dir()}: {', '.join(placed)}")
    return 0
