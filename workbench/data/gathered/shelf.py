"""The datasets a class gathers: ordinary image folders under the run folder's ``datasets/``, one per name.

    datasets/<name>/<class>/<session>__<nnn>.jpg   each image re-encoded by the server (`reencode`)
    datasets/<name>/workbench-dataset.json         its owner, whether it is shared, each image's hashes

A *session* is one camera burst or one upload batch into one class, written into the file's name so that an
exported zip keeps it: its frames are near-copies, so the splits never cut one (`workbench.data.splits`).
A dataset belongs to the page that made it (``owner``: an opaque id the dashboard derives from the browser);
``None`` is the teacher's (the command line, a notebook, the teacher's page), who sees and may change every one.
A class page sees its own datasets and those their owners shared, and changes only its own. A new dataset is
written whole in a hidden folder and renamed into place; a batch of images is encoded into a hidden folder first,
so a refused file, a full disk or a crash leaves the dataset as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from workbench.core.errors import DataError
from workbench.core.files import write_atomically
from workbench.data.decode import ImageRefused
from workbench.data.gathered.checks import likeness_groups
from workbench.data.gathered.dataset import GatheredDataset
from workbench.data.gathered.manifest import SESSION_MARK, session_of
from workbench.data.gathered.names import checked_name
from workbench.data.gathered.quotas import Quotas
from workbench.data.gathered.reencode import SUFFIX, reencode
from workbench.data.roots import DATASETS

MIN_CLASSES, MAX_CLASSES = 2, 10
TEACHER = None  # the owner/viewer that is the teacher: sees and changes everything


@dataclass
class Added:
    """One batch: how many images it added, the sessions they make, and one line for each file refused."""

    added: int = 0
    sessions: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @classmethod
    def total(cls, batches: list[Added]) -> Added:
        """Several batches (an import's) as one account."""
        return cls(sum(b.added for b in batches), [s for b in batches for s in b.sessions],
                   [line for b in batches for line in b.refused])


def _by_session(files: list[tuple[str, bytes]]) -> dict[str | None, list[tuple[str, bytes]]]:
    """An import's files, one batch per session its names carry (an exported dataset keeps its sessions); files
    named any other way are one batch under ``None`` (sessions found by likeness)."""
    batches: dict[str | None, list[tuple[str, bytes]]] = {}
    for file_name, data in files:
        named = SESSION_MARK in Path(str(file_name)).stem
        batches.setdefault(session_of(Path(str(file_name))) if named else None, []).append((file_name, data))
    return batches


def new_session(kind: str) -> str:
    return f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}"


class DatasetShelf:
    """Every gathered dataset of one run folder; ``viewer`` in each call is who asks (`TEACHER`: anyone)."""

    def __init__(self, runs_dir: str | Path, quotas: Quotas = Quotas()):
        self.root = Path(runs_dir).expanduser() / DATASETS
        self.quotas = quotas

    def _lock(self) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"), timeout=30)

    def list(self, viewer: str | None = TEACHER) -> list[GatheredDataset]:
        """The datasets ``viewer`` may see: all for the teacher, else their own and the shared ones."""
        if not self.root.is_dir():
            return []
        found = [GatheredDataset.load(p) for p in sorted(self.root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        return [d for d in found if d is not None and (viewer is TEACHER or d.owner == viewer or d.shared)]

    def open(self, name: str, viewer: str | None = TEACHER) -> GatheredDataset:
        """One dataset ``viewer`` may see; one line, the same whether it is missing or someone else's."""
        found = next((d for d in self.list(viewer) if d.name == str(name).strip()), None)
        if found is None:
            raise DataError(f"no dataset named {str(name).strip()!r} here; make it first, or check its name "
                            f"(`workbench data list`)")
        return found

    def _own(self, name: str, viewer: str | None) -> GatheredDataset:
        dataset = self.open(name, viewer)
        if viewer is not TEACHER and dataset.owner != viewer:
            raise DataError(f"dataset {dataset.name!r} was shared by another student: you may train on it, not "
                            f"change it; make a dataset of your own to add images")
        return dataset

    def create(self, name: str, classes: Iterable[str], owner: str | None = TEACHER,
               images: dict[str, list[tuple[str, bytes]]] | None = None, kind: str = "upload") -> tuple[GatheredDataset, list[Added]]:
        """A new dataset with these classes (and, from an import, their images), renamed into place whole."""
        name = checked_name(name, "dataset")
        classes = list(dict.fromkeys(checked_name(c, "class") for c in classes))
        if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
            raise DataError(f"a dataset has {MIN_CLASSES} to {MAX_CLASSES} classes; {name!r} would have "
                            f"{len(classes)}")
        with self._lock():
            if (self.root / name).exists():
                raise DataError(f"a dataset named {name!r} exists already; choose another name")
            staging = self.root / f".new-{uuid.uuid4().hex}"
            try:
                staging.mkdir()
                dataset = GatheredDataset(name, staging, owner, False, datetime.now(timezone.utc).isoformat(
                    timespec="seconds"), {})
                for class_name in classes:
                    (staging / class_name).mkdir()
                self._check_quota(dataset, sum(len(files) for files in (images or {}).values()))
                for class_name, files in (images or {}).items():
                    if len(files) > self.quotas.images_per_class:
                        raise DataError(f"class {class_name!r} has {len(files)} images, more than the "
                                        f"{self.quotas.images_per_class} a class may have here; leave some out")
                batches = [self._write_batch(dataset, c, files, kind, staging / c, by_likeness=named is None)
                           for c in classes for named, files in _by_session((images or {}).get(c, [])).items()]
                dataset.save()
                os.rename(staging, self.root / name)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return self.open(name, TEACHER), batches

    def add_images(self, name: str, class_name: str, files: list[tuple[str, bytes]], viewer: str | None = TEACHER,
                   kind: str = "upload") -> Added:
        """One session's images into one class: each re-encoded, refused ones named, the rest kept together."""
        if not files:
            raise DataError("no images given; choose image files (JPEG, PNG, BMP, GIF, WebP or TIFF) to add")
        with self._lock():
            dataset = self._own(name, viewer)
            if class_name not in dataset.classes():
                raise DataError(f"dataset {dataset.name!r} has no class {class_name!r}; add the class first")
            self._check_quota(dataset, len(files), class_name)
            staging = self.root / f".add-{uuid.uuid4().hex}"
            try:
                staging.mkdir()
                added = self._write_batch(dataset, class_name, files, kind, staging)
                for path in sorted(staging.iterdir()):
                    os.rename(path, dataset.folder / class_name / path.name)
                dataset.save()
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return added

    def _write_batch(self, dataset: GatheredDataset, class_name: str, files: list[tuple[str, bytes]], kind: str,
                     into: Path, by_likeness: bool = False) -> Added:
        """Encode ``files`` into ``into`` as a new session of ``class_name`` (a burst, an upload); with
        ``by_likeness`` (an import whose file names carry no sessions) as one session per group of near-copies, so
        that a folder of separate photos splits freely while a burst inside it stays whole."""
        added = Added()
        seen = {entry.get("digest"): key for key, entry in dataset.hashes.items()}
        kept = []
        for number, (file_name, data) in enumerate(files, 1):
            shown = Path(str(file_name)).name or f"file {number}"
            try:
                encoded = reencode(data, shown)
            except ImageRefused as refused:
                added.refused.append(str(refused))
                continue
            if encoded.digest in seen:
                added.refused.append(f"{shown} is the same picture as {seen[encoded.digest]} in "
                                     f"{dataset.name!r}; skipped")
                continue
            seen[encoded.digest] = f"{class_name}/{shown}"
            kept.append((number, encoded))
        groups = likeness_groups([encoded.phash for _, encoded in kept]) if by_likeness else [0] * len(kept)
        sessions = {group: new_session(kind) for group in dict.fromkeys(groups)}
        for (number, encoded), group in zip(kept, groups):
            stored = f"{sessions[group]}{SESSION_MARK}{number:03d}{SUFFIX}"
            write_atomically(into / stored, lambda stream, data=encoded.data: stream.write(data))
            dataset.hashes[f"{class_name}/{stored}"] = {"digest": encoded.digest, "phash": encoded.phash}
        added.added, added.sessions = len(kept), list(sessions.values())
        return added

    def _check_quota(self, dataset: GatheredDataset, adding: int, class_name: str | None = None) -> None:
        quotas = self.quotas
        if class_name is not None and len(dataset.images(class_name)) + adding > quotas.images_per_class:
            raise DataError(f"class {class_name!r} would have more than {quotas.images_per_class} images; "
                            f"delete some first, or add at most {quotas.images_per_class - len(dataset.images(class_name))}")
        if dataset.count() + adding > quotas.images_per_dataset:
            raise DataError(f"dataset {dataset.name!r} would have more than {quotas.images_per_dataset} images; "
                            f"delete some first")
        if dataset.owner is not TEACHER:
            used = sum(d.size_bytes() for d in self.list(TEACHER) if d.owner == dataset.owner)
            if used > quotas.megabytes_per_owner * 1e6:
                raise DataError(f"your datasets use {used / 1e6:.0f} MB of the {quotas.megabytes_per_owner} MB each "
                                f"student may keep here; delete a dataset or some images first")

    def add_class(self, name: str, class_name: str, viewer: str | None = TEACHER) -> None:
        class_name = checked_name(class_name, "class")
        with self._lock():
            dataset = self._own(name, viewer)
            if len(dataset.classes()) >= MAX_CLASSES:
                raise DataError(f"{dataset.name!r} has {MAX_CLASSES} classes, the most a dataset may have")
            if (dataset.folder / class_name).exists():
                raise DataError(f"{dataset.name!r} has a class {class_name!r} already")
            (dataset.folder / class_name).mkdir()

    def rename_class(self, name: str, old: str, new: str, viewer: str | None = TEACHER) -> None:
        new = checked_name(new, "class")
        with self._lock():
            dataset = self._own(name, viewer)
            if old not in dataset.classes():
                raise DataError(f"{dataset.name!r} has no class {old!r}")
            if (dataset.folder / new).exists():
                raise DataError(f"{dataset.name!r} has a class {new!r} already; choose another name")
            os.rename(dataset.folder / old, dataset.folder / new)
            dataset.hashes = {(f"{new}/{key.split('/', 1)[1]}" if key.split("/", 1)[0] == old else key): entry
                              for key, entry in dataset.hashes.items()}
            dataset.save()

    def remove_class(self, name: str, class_name: str, viewer: str | None = TEACHER) -> None:
        """A class and its images (a dataset keeps at least two classes)."""
        with self._lock():
            dataset = self._own(name, viewer)
            if class_name not in dataset.classes():
                raise DataError(f"{dataset.name!r} has no class {class_name!r}")
            if len(dataset.classes()) <= MIN_CLASSES:
                raise DataError(f"a dataset keeps at least {MIN_CLASSES} classes; rename this one instead")
            shutil.rmtree(dataset.folder / class_name)
            dataset.hashes = {k: v for k, v in dataset.hashes.items() if k.split("/", 1)[0] != class_name}
            dataset.save()

    def delete_image(self, name: str, class_name: str, file_name: str, viewer: str | None = TEACHER) -> None:
        with self._lock():
            dataset = self._own(name, viewer)
            path = dataset.folder / class_name / Path(file_name).name
            if class_name not in dataset.classes() or path not in dataset.images(class_name):
                raise DataError(f"{dataset.name!r} has no image {Path(file_name).name!r} in class {class_name!r}")
            path.unlink()
            dataset.hashes.pop(f"{class_name}/{path.name}", None)
            dataset.save()

    def share(self, name: str, shared: bool, viewer: str | None = TEACHER) -> None:
        with self._lock():
            dataset = self._own(name, viewer)
            dataset.shared = bool(shared)
            dataset.save()

    def delete(self, name: str, viewer: str | None = TEACHER) -> None:
        """A whole dataset: renamed out of sight first, so no page trains on half of it."""
        with self._lock():
            dataset = self._own(name, viewer)
            doomed = self.root / f".deleted-{uuid.uuid4().hex}"
            os.rename(dataset.folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def owns_folder(self, folder: Path, viewer: str | None) -> bool:
        """Whether a class page may train on ``folder`` (a resolved path inside ``datasets/``)."""
        return any(d.folder.resolve() == folder for d in self.list(viewer))
