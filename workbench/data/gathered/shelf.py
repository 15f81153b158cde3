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

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from workbench.core.errors import DataError
from workbench.data.gathered.batches import Added, by_session, encode_batch
from workbench.data.gathered.dataset import GatheredDataset
from workbench.data.gathered.names import checked_name
from workbench.data.gathered.quotas import Quotas
from workbench.data.roots import DATASETS

MIN_CLASSES, MAX_CLASSES = 2, 10
LOCK_SECONDS = 30
STALE_SECONDS = 3600  # a hidden write folder this old belongs to a write that crashed
TEACHER = None  # the owner/viewer that is the teacher: sees and changes everything


class DatasetShelf:
    """Every gathered dataset of one run folder; ``viewer`` in each call is who asks (`TEACHER`: anyone)."""

    def __init__(self, runs_dir: str | Path, quotas: Quotas = Quotas()):
        self.root = Path(runs_dir).expanduser() / DATASETS
        self.quotas = quotas

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time, briefly (renames and the manifest: images are encoded before it is taken); left-over
        hidden folders of a crashed write are swept away here."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(self.root / ".lock"), timeout=LOCK_SECONDS):
                self._sweep()
                yield
        except Timeout:
            raise DataError("the class's datasets are busy (another page is saving images); try again in a "
                            "moment") from None

    def _sweep(self) -> None:
        stale = time.time() - STALE_SECONDS
        for path in self.root.glob(".*-*"):
            with contextlib.suppress(OSError):
                if path.is_dir() and path.stat().st_mtime < stale:
                    shutil.rmtree(path, ignore_errors=True)

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

    def holding(self, spec: str, viewer: str | None = TEACHER) -> GatheredDataset | None:
        """The dataset ``viewer`` may see that a run trained on (``spec``: its dataset name, as recorded), if any."""
        return next((d for d in self.list(viewer) if spec in (d.spec, f"imagefolder:{d.folder.resolve()}")), None)

    def hides_images_of(self, spec: str, viewer: str | None = TEACHER) -> bool:
        """Whether a run's dataset (``spec``, as recorded) is a gathered dataset ``viewer`` may not see (another
        student's, unshared, or deleted): views that show its images stay closed to them."""
        kind, _, folder = spec.partition(":")
        if kind != "imagefolder" or viewer is TEACHER:
            return False
        inside = Path(folder).expanduser().resolve().is_relative_to(self.root.resolve())
        return inside and self.holding(spec, viewer) is None

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
        given: dict[str, list[tuple[str, bytes]]] = {}
        for class_name, files in (images or {}).items():  # a folder's name as the shelf will write it
            given.setdefault(checked_name(class_name, "class"), []).extend(files)
        classes = list(dict.fromkeys([*(checked_name(c, "class") for c in classes), *given]))
        if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
            raise DataError(f"a dataset has {MIN_CLASSES} to {MAX_CLASSES} classes; {name!r} would have "
                            f"{len(classes)}")
        if (self.root / name).exists():
            raise DataError(f"a dataset named {name!r} exists already; choose another name")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".new-{uuid.uuid4().hex}"
        dataset = GatheredDataset(name, staging, owner, False, datetime.now(timezone.utc).isoformat(
            timespec="seconds"), {})
        try:
            staging.mkdir()
            for class_name in classes:
                (staging / class_name).mkdir()
            self._check_counts(dataset, sum(map(len, given.values())))
            for class_name, files in given.items():
                self._check_counts(dataset, len(files), class_name)
            batches = []
            for class_name in classes:
                for named, files in by_session(given.get(class_name, [])).items():
                    added, staged = encode_batch(dataset, class_name, files, kind, staging / class_name,
                                                      by_likeness=named is None)
                    dataset.hashes.update({f"{class_name}/{file}": entry for file, entry in staged.items()})
                    batches.append(added)
            self._check_bytes(owner, dataset.size_bytes())
            dataset.save()
            with self._locked():
                if (self.root / name).exists():
                    raise DataError(f"a dataset named {name!r} exists already; choose another name")
                os.rename(staging, self.root / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.open(name, TEACHER), batches

    def add_images(self, name: str, class_name: str, files: list[tuple[str, bytes]], viewer: str | None = TEACHER,
                   kind: str = "upload") -> Added:
        """One session's images into one class: each re-encoded (outside the lock), refused ones named, the rest
        kept together; the quotas are checked on what was really kept."""
        if not files:
            raise DataError("no images given; choose image files (JPEG, PNG, BMP, GIF, WebP or TIFF) to add")
        dataset = self._own(name, viewer)
        if class_name not in dataset.classes():
            raise DataError(f"dataset {dataset.name!r} has no class {class_name!r}; add the class first")
        self._check_counts(dataset, len(files), class_name)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".add-{uuid.uuid4().hex}"
        try:
            staging.mkdir()
            added, staged = encode_batch(dataset, class_name, files, kind, staging)
            with self._locked():
                dataset = self._own(name, viewer)  # as it is now: another page may have changed it meanwhile
                if class_name not in dataset.classes():
                    raise DataError(f"dataset {dataset.name!r} has no class {class_name!r} any more")
                self._check_counts(dataset, len(staged), class_name)
                self._check_bytes(dataset.owner, sum((staging / file).stat().st_size for file in staged))
                there = {entry.get("digest"): key for key, entry in dataset.hashes.items()}
                for file, entry in staged.items():
                    if entry["digest"] in there:  # the same picture, added by another page meanwhile
                        added.refused.append(f"a picture of this batch is the same as {there[entry['digest']]}; skipped")
                        added.added -= 1
                        continue
                    os.rename(staging / file, dataset.folder / class_name / file)
                    dataset.hashes[f"{class_name}/{file}"] = entry
                dataset.save()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return added

    def _check_counts(self, dataset: GatheredDataset, adding: int, class_name: str | None = None) -> None:
        quotas = self.quotas
        if class_name is not None:
            there = len(dataset.images(class_name))
            if there + adding > quotas.images_per_class:
                raise DataError(f"class {class_name!r} would have more than {quotas.images_per_class} images; "
                                f"add at most {max(0, quotas.images_per_class - there)}, or delete some first")
        if dataset.count() + adding > quotas.images_per_dataset:
            raise DataError(f"dataset {dataset.name!r} would have more than {quotas.images_per_dataset} images; "
                            f"delete some first")

    def _check_bytes(self, owner: str | None, adding: int) -> None:
        """A student's datasets, with what is being added, within the megabytes each may keep."""
        if owner is TEACHER:
            return
        used = sum(d.size_bytes() for d in self.list(TEACHER) if d.owner == owner) + adding
        if used > self.quotas.megabytes_per_owner * 1e6:
            raise DataError(f"your datasets would use {used / 1e6:.0f} MB, more than the "
                            f"{self.quotas.megabytes_per_owner} MB each student may keep here; delete a dataset or "
                            f"some images first")

    def add_class(self, name: str, class_name: str, viewer: str | None = TEACHER) -> None:
        class_name = checked_name(class_name, "class")
        with self._locked():
            dataset = self._own(name, viewer)
            if len(dataset.classes()) >= MAX_CLASSES:
                raise DataError(f"{dataset.name!r} has {MAX_CLASSES} classes, the most a dataset may have")
            if (dataset.folder / class_name).exists():
                raise DataError(f"{dataset.name!r} has a class {class_name!r} already")
            (dataset.folder / class_name).mkdir()

    def rename_class(self, name: str, old: str, new: str, viewer: str | None = TEACHER) -> None:
        new = checked_name(new, "class")
        with self._locked():
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
        with self._locked():
            dataset = self._own(name, viewer)
            if class_name not in dataset.classes():
                raise DataError(f"{dataset.name!r} has no class {class_name!r}")
            if len(dataset.classes()) <= MIN_CLASSES:
                raise DataError(f"a dataset keeps at least {MIN_CLASSES} classes; rename this one instead")
            shutil.rmtree(dataset.folder / class_name)
            dataset.hashes = {k: v for k, v in dataset.hashes.items() if k.split("/", 1)[0] != class_name}
            dataset.save()

    def delete_image(self, name: str, class_name: str, file_name: str, viewer: str | None = TEACHER) -> None:
        with self._locked():
            dataset = self._own(name, viewer)
            path = dataset.folder / class_name / Path(file_name).name
            if class_name not in dataset.classes() or path not in dataset.images(class_name):
                raise DataError(f"{dataset.name!r} has no image {Path(file_name).name!r} in class {class_name!r}")
            path.unlink()
            dataset.hashes.pop(f"{class_name}/{path.name}", None)
            dataset.save()

    def share(self, name: str, shared: bool, viewer: str | None = TEACHER) -> None:
        with self._locked():
            dataset = self._own(name, viewer)
            dataset.shared = bool(shared)
            dataset.save()

    def delete(self, name: str, viewer: str | None = TEACHER) -> None:
        """A whole dataset: renamed out of sight first, so no page trains on half of it."""
        with self._locked():
            dataset = self._own(name, viewer)
            doomed = self.root / f".deleted-{uuid.uuid4().hex}"
            os.rename(dataset.folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def owns_folder(self, folder: Path, viewer: str | None) -> bool:
        """Whether a class page may train on ``folder`` (a resolved path inside ``datasets/``)."""
        return any(d.folder.resolve() == folder for d in self.list(viewer))
