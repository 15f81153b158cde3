"""A gathered dataset's manifest (``workbench-dataset.json``): who owns it, whether it is shared, its images' hashes.

Read here by itself, without the rest of the shelf, so that `workbench.data.roots` can ask whether a class page may
train on a folder, and the image folder kind can tell a gathered dataset (whose file names carry sessions) from any
other folder.
"""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "workbench-dataset.json"
SESSION_MARK = "__"  # an image's file name: <session>__<nnn>.jpg


def read_manifest(folder: Path) -> dict:
    """The manifest of the dataset in ``folder``; ``{}`` where there is none or it cannot be read."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def visible_to(folder: Path, viewer: str) -> bool:
    """Whether the page ``viewer`` may train on the gathered dataset in ``folder``: its own, or shared."""
    manifest = read_manifest(folder)
    return bool(manifest) and (bool(manifest.get("shared")) or (manifest.get("owner") == viewer and bool(viewer)))


def session_of(path: Path) -> str:
    """The capture session an image of a gathered dataset came from (a file without one is a session of its own)."""
    session, mark, _ = Path(path).stem.partition(SESSION_MARK)
    return session if mark else Path(path).stem
