"""The user's own images: one folder per class, optionally under train/, val/ and test/.

Anything that is not a decodable image (text files, ``.DS_Store``, truncated or corrupt
files, decompression bombs, formats outside `workbench.data.decode.FORMATS` whatever their
suffix) is skipped and counted in the dataset's notes rather than stopping the run; grayscale,
palette, RGBA, CMYK and 16-bit images are converted to RGB. A folder the class gathered (`workbench.data.gathered`:
it has a manifest) carries each image's capture session in its file name, and its splits keep sessions whole.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from workbench.core.errors import DataError
from workbench.data.decode import UNREADABLE, ImageRefused, decode, too_large  # noqa: F401 - names kept here too
from workbench.data.gathered.checks import session_problems
from workbench.data.gathered.manifest import MANIFEST, read_manifest, session_of
from workbench.data.roots import DataRoots
from workbench.data.sources import SPLITS, DatasetKind, ImageSource, register_dataset

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _image_files(folder: Path) -> tuple[list[Path], int]:
    """Image files below ``folder`` (symlinked folders are not followed, so loops cannot hang us)."""
    found, ignored = [], 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if not name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES:
                found.append(path)
            else:
                ignored += 1
    return found, ignored


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_folder_source(root: Path, shown: str | None = None) -> ImageSource:
    """``shown``: the folder as its messages name it (a class page's, as the student typed it: where the server
    keeps its data folders is the teacher's business)."""
    gathered = bool(read_manifest(root))  # the class's own dataset: named by its name, split by its sessions
    where = f"dataset {root.name!r}" if gathered else shown or root
    if not root.is_dir():
        raise DataError(f"image folder {where} does not exist or is not a folder; check the path")
    layout = [s for s in SPLITS if (root / s).is_dir()]
    if layout and "train" not in layout:
        raise DataError(f"{where} has {'/'.join(layout)} but no train/ folder; add train/<class>/ images")
    split_roots = {s: root / s for s in layout} if layout else {None: root}
    classes = sorted({c for folder in split_roots.values() for c in _class_folders(folder)})
    files, labels, splits, notes = [], [], [], []
    ignored = 0
    for label, name in enumerate(classes):
        count = 0
        for split, folder in split_roots.items():
            paths, skipped = _image_files(folder / name) if (folder / name).is_dir() else ([], 0)
            ignored += skipped
            files += paths
            labels += [label] * len(paths)
            splits += [split] * len(paths)
            count += len(paths)
        if count == 0:
            notes.append(f"class folder {name!r} has no images and was left out")
    if ignored:
        notes.append(f"ignored {ignored} non-image file(s)")
    kept = sorted(set(labels))
    if not files:
        raise DataError(f"no images found in {where}; put images in one sub-folder per class, e.g. {where}/cats/1.jpg")
    if len(kept) < 2:
        raise DataError(f"{where} has images of a single class ({classes[kept[0]]!r}); add a second class folder")
    remap = {old: new for new, old in enumerate(kept)}
    labels_array = np.array([remap[label] for label in labels])

    def load(indices: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray, dict[str, int]]:
        decoded = [decode_image(files[i], size) for i in indices]
        ok = np.array([isinstance(image, torch.Tensor) for image in decoded], dtype=bool)
        skipped = Counter(image for image in decoded if isinstance(image, str))
        images = [image for image in decoded if isinstance(image, torch.Tensor)]
        if not images:
            return torch.empty(0, 3, size, size, dtype=torch.uint8), ok, dict(skipped)
        return torch.stack(images), ok, dict(skipped)

    predefined = np.array(splits) if layout else None
    groups = None
    if gathered and not layout:  # whole sessions per split, three per class at least
        groups = np.array([session_of(path) for path in files])
        per_class = {classes[k]: len(set(groups[labels_array == remap[k]])) for k in kept}
        problems = session_problems(per_class, {name: 1 for name in per_class})
        if problems:
            raise DataError(f"{where}: {problems[0]}" + (f" ({len(problems) - 1} more class(es) too)"
                                                          if len(problems) > 1 else ""))
    return ImageSource(f"imagefolder:{root}", [classes[k] for k in kept], labels_array, load, predefined, notes,
                       groups)


def decode_image(path: Path, size: int) -> torch.Tensor | str:
    """One image file -> uint8 (3, size, size), or the reason it was skipped (`workbench.data.decode`)."""
    try:
        return decode(path, size)
    except ImageRefused as refused:
        return refused.reason


def _open(argument: str, data_dir: Path) -> ImageSource:
    if not argument:
        raise DataError("imagefolder needs a path: --dataset imagefolder:/path/to/images")
    return image_folder_source(Path(argument).expanduser())


def _check(argument: str, data_dir: Path, roots: DataRoots | None) -> None:
    """The folder exists and has images of two classes or more (read from names only: nothing is decoded).
    With ``roots`` (a class page), a folder outside them is refused first, in one line that says nothing of it."""
    if roots is not None:
        folder, typed = roots.folder(argument), argument.strip()  # a page's Launch gives it resolved: from the root on
        image_folder_source(folder, shown=roots.shown(folder) if os.path.isabs(typed) else typed)
        return
    if not argument.strip():
        raise DataError("give the path of your image folder (one sub-folder of images per class)")
    image_folder_source(Path(argument.strip()).expanduser())


def _identity(argument: str) -> str:
    """A folder's content, as reuse compares it: every file's path, size and time (nothing is read)."""
    root = Path(argument).expanduser()
    listing = hashlib.sha256()
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            if name == MANIFEST and folder == str(root):
                continue  # who owns it and whether it is shared change no image
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            listing.update(f"{os.path.relpath(os.path.join(folder, name), root)}\0{stat.st_size}\0"
                           f"{stat.st_mtime_ns}\n".encode())
    return listing.hexdigest()


register_dataset(DatasetKind(
    "imagefolder", "your images, one folder per class (optionally inside train/ val/ test/)", _open,
    usage="imagefolder:PATH", takes_argument=True, check=_check, identity=_identity,
    confine=lambda argument, roots: str(roots.folder(argument)), opens_cheaply=True,
    label=lambda argument: f"imagefolder:…/{Path(argument).name}",
))
