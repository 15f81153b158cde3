"""Zips in and out of the shelf: a zip of class folders, Teachable Machine's sample zips, our own exports.

Reading a zip a student hands over: no entry is ever written where its name points. Names are only read for the
class they give (the folder an image sits in; a zip of loose images is one class, named after the zip, which is
how Teachable Machine's "download samples" zips come), each image's bytes go through the re-encoder like an upload,
and a zip with a path that climbs out (``../``, ``/etc``), a link, an encrypted entry, or more entries or bytes
than a class could use is refused whole, in one line. An export is the dataset's folder, manifest included (so the
sessions and hashes travel) but without its owner: unzipped anywhere, it opens as ``imagefolder:``.
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from workbench.core.errors import DataError
from workbench.core.files import write_atomically
from workbench.data.gathered.batches import Added
from workbench.data.gathered.dataset import GatheredDataset
from workbench.data.gathered.manifest import MANIFEST, read_manifest
from workbench.data.gathered.names import checked_name
from workbench.data.gathered.shelf import TEACHER, DatasetShelf

MAX_ENTRIES = 5000  # and never more than the dataset may hold (its quota)
MAX_ENTRY_BYTES = 30_000_000  # one image as uploaded
MAX_TOTAL_BYTES = 200_000_000  # unpacked, all the zips of one import together: what is held in memory at once
_SAMPLES = re.compile(r"[\s_-]*samples?$", re.IGNORECASE)  # "Cat-samples.zip": the class is "Cat"


def _refuse(zip_name: str, why: str) -> DataError:
    return DataError(f"{zip_name} cannot be imported: {why}; zip the class folders again, as plain folders of images")


def read_zip(source: str | Path | bytes | BinaryIO, zip_name: str, max_entries: int = MAX_ENTRIES,
             max_bytes: int = MAX_TOTAL_BYTES) -> dict[str, list[tuple[str, bytes]]]:
    """A zip -> {class: [(file name, bytes)]}, checked entry by entry before any byte is used: at most
    ``max_entries`` images and ``max_bytes`` unpacked (a few kB of zip can claim a gigabyte)."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DataError(f"{zip_name} is not a zip file that can be read; make it again (a .zip of class folders)") from None
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if len(entries) > max_entries:
            raise _refuse(zip_name, f"it holds {len(entries)} files, more than the {max_entries} a dataset may hold")
        if sum(info.file_size for info in entries) > max_bytes:
            raise _refuse(zip_name, f"it unpacks to more than {max_bytes / 1e6:g} MB")
        classes: dict[str, list[tuple[str, bytes]]] = {}
        fallback = _SAMPLES.sub("", PurePosixPath(zip_name.replace("\\", "/")).stem) or "images"
        for info in entries:
            path = PurePosixPath(info.filename.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", info.filename):
                raise _refuse(zip_name, f"the entry {info.filename!r} points outside the zip")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse(zip_name, f"the entry {info.filename!r} is a link")
            if info.flag_bits & 0x1:
                raise _refuse(zip_name, f"the entry {info.filename!r} is encrypted")
            if any(part.startswith(".") or part == "__MACOSX" for part in path.parts) or path.name == MANIFEST:
                continue  # the Mac's and the shelf's own files: not images
            if info.file_size > MAX_ENTRY_BYTES:
                raise _refuse(zip_name, f"the entry {info.filename!r} is over {MAX_ENTRY_BYTES / 1e6:g} MB")
            class_name = checked_name(path.parent.name if len(path.parts) > 1 else fallback, "class")
            try:
                with archive.open(info) as entry:
                    data = entry.read(MAX_ENTRY_BYTES + 1)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError, ValueError):
                raise _refuse(zip_name, f"the entry {info.filename!r} is damaged or packed in a way this cannot "
                                        f"read") from None
            if len(data) > MAX_ENTRY_BYTES:
                raise _refuse(zip_name, f"the entry {info.filename!r} unpacks to more than it says")
            classes.setdefault(class_name, []).append((path.name, data))
    if not classes:
        raise DataError(f"{zip_name} holds no files to import; put images in one folder per class and zip them")
    return classes


def import_zips(shelf: DatasetShelf, name: str, zips: list[tuple[str, str | Path | bytes | BinaryIO]],
                owner: str | None = TEACHER) -> tuple[GatheredDataset, list[Added]]:
    """One new dataset from one or more zips (Teachable Machine: one zip per class), made whole or not at all."""
    classes: dict[str, list[tuple[str, bytes]]] = {}
    room, entries = MAX_TOTAL_BYTES, shelf.quotas.images_per_dataset
    for zip_name, source in zips:
        for class_name, files in read_zip(source, zip_name, entries, room).items():
            classes.setdefault(class_name, []).extend(files)
            room -= sum(len(data) for _, data in files)
            entries -= len(files)
    if len(classes) < 2:
        found = ", ".join(repr(c) for c in classes)
        raise DataError(f"the zip(s) hold one class ({found}); a dataset needs two: zip a folder per class, or "
                        f"import one Teachable Machine sample zip per class together")
    return shelf.create(name, list(classes), owner, images=classes, kind="import")


def export_zip(dataset: GatheredDataset, output: str | Path) -> Path:
    """The dataset as ``<name>/<class>/<image>`` plus its manifest without an owner, written whole."""
    output = Path(output).expanduser()
    if output.suffix.lower() != ".zip":
        raise DataError(f"the export is a zip: give a file name ending in .zip, not {output.name!r}")
    if not output.parent.is_dir():
        raise DataError(f"folder {output.parent} does not exist; create it or give another -o")
    manifest = {**read_manifest(dataset.folder), "owner": None, "shared": False}

    def write(stream) -> None:
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:  # JPEGs do not compress
            archive.writestr(f"{dataset.name}/{MANIFEST}", json.dumps(manifest, indent=1))
            for class_name in dataset.classes():
                for path in dataset.images(class_name):
                    archive.write(path, f"{dataset.name}/{class_name}/{path.name}")

    write_atomically(output, write)
    return output
