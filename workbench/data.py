"""Datasets as in-memory image tensors, with stratified, seeded splits.

Every dataset becomes an `ImageSource`: its class names, one label per image, and a loader
that decodes chosen images straight to a ``uint8`` tensor of shape (N, 3, size, size).
Splitting happens on the labels first, so only the images a run uses are ever decoded; the
decoded tensors are then kept in memory, and batches are plain tensor slices.

Built-in, offline datasets:

* ``digits`` — scikit-learn's 1,797 real 8x8 handwritten digits (values 0..16), scaled to
  0..255, upsampled bilinearly to the image size and repeated to 3 channels. ``digits:0-4``,
  ``digits:5-9`` or ``digits:1,3,7`` keep those classes (relabelled 0..k-1).
* ``textures`` — six real photographs shipped with scikit-image (brick, grass, gravel, moon,
  cell, immunohistochemistry), converted to grayscale. Each photo is cut along its width into
  three disjoint bands: the left 60% gives training patches, the next 20% validation patches
  and the last 20% test patches, so no pixel is shared across splits. Square patches (side
  18% of the photo's shorter side) are taken at seeded random positions inside each band
  (80 / 30 / 30 per class) and resized to the image size.

``imagefolder:PATH`` reads one folder per class, optionally under ``train/``, ``val/`` (and
``test/``); torchvision datasets (``cifar10``, ``flowers102``, ``oxford_pets``, ``eurosat``,
``dtd``) are downloaded to the data folder when online.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from workbench.errors import DataError

SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.2
TEST_FRACTION = 0.2
DEFAULT_DATA_DIR = Path(os.environ.get("WORKBENCH_DATA", "./data"))

Loader = Callable[[np.ndarray, int], tuple[torch.Tensor, np.ndarray, dict[str, int]]]
"""(indices, size) -> (uint8 images, mask of the indices that decoded, {why skipped: count})."""


@dataclass
class ImageSource:
    """A dataset before splitting: labels for every image, pixels on demand."""

    name: str
    classes: list[str]
    labels: np.ndarray
    load: Loader
    predefined: np.ndarray | None = None  # "train" / "val" / "test" per image, where the data fixes it
    notes: list[str] = field(default_factory=list)


@dataclass
class DataBundle:
    """The decoded images of one run's splits, all in memory."""

    name: str
    classes: list[str]
    images: dict[str, torch.Tensor]  # split -> uint8 (N, 3, H, W)
    labels: dict[str, torch.Tensor]  # split -> int64 (N,)
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def size(self, split: str) -> int:
        return len(self.labels[split])


# --- image helpers --------------------------------------------------------------------------


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Float (N, C, H, W) in 0..1 -> uint8 (N, 3, size, size): centre-crop to square, then resize."""
    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[..., top : top + side, left : left + side]
    if side != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=side > size, align_corners=False)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


# --- built-in datasets ------------------------------------------------------------------------


def _parse_classes(spec: str, available: int) -> list[int]:
    """'0-4' or '1,3,7' -> sorted class indices."""
    chosen: set[int] = set()
    try:
        for part in spec.split(","):
            if "-" in part:
                low, high = (int(v) for v in part.split("-"))
                chosen.update(range(low, high + 1))
            else:
                chosen.add(int(part))
    except ValueError:
        raise DataError(f"cannot read class subset {spec!r}; write it like digits:0-4 or digits:1,3,7") from None
    if not chosen or min(chosen) < 0 or max(chosen) >= available:
        raise DataError(f"class subset {spec!r} is outside 0-{available - 1}; write it like digits:0-4")
    if len(chosen) < 2:
        raise DataError(f"class subset {spec!r} has a single class; a classifier needs at least two")
    return sorted(chosen)


def digits_source(subset: str | None = None) -> ImageSource:
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = list(range(10)) if subset is None else _parse_classes(subset, 10)
    mask = np.isin(digits.target, keep)
    pixels = torch.from_numpy(digits.images[mask] / 16.0).float().unsqueeze(1)
    remap = {c: i for i, c in enumerate(keep)}
    labels = np.array([remap[t] for t in digits.target[mask]])

    def load(indices: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray]:
        return resize_square(pixels[torch.as_tensor(indices)], size), np.ones(len(indices), bool), {}

    name = "digits" if subset is None else f"digits:{subset}"
    return ImageSource(name, [str(c) for c in keep], labels, load)


TEXTURE_PHOTOS = ("brick", "grass", "gravel", "moon", "cell", "immunohistochemistry")
TEXTURE_PATCHES = {"train": 80, "val": 30, "test": 30}
TEXTURE_BANDS = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}
TEXTURE_SEED = 1234


def _texture_patches(photo: np.ndarray, rng: np.random.Generator) -> list[tuple[str, torch.Tensor]]:
    """Cut square patches from disjoint vertical bands of one grayscale photo."""
    image = torch.from_numpy(photo).float() / 255.0
    h, w = image.shape
    side = int(0.18 * min(h, w))
    patches = []
    for split, count in TEXTURE_PATCHES.items():
        start, stop = (int(f * w) for f in TEXTURE_BANDS[split])
        for _ in range(count):
            top = int(rng.integers(0, h - side + 1))
            left = int(rng.integers(start, stop - side + 1))
            patches.append((split, image[top : top + side, left : left + side]))
    return patches


def textures_source() -> ImageSource:
    import skimage.color
    import skimage.data

    rng = np.random.default_rng(TEXTURE_SEED)
    patches, labels, splits = [], [], []
    for label, name in enumerate(TEXTURE_PHOTOS):
        photo = getattr(skimage.data, name)()
        if photo.ndim == 3:
            photo = (skimage.color.rgb2gray(photo[..., :3]) * 255).astype(np.uint8)
        for split, patch in _texture_patches(photo, rng):
            patches.append(patch)
            labels.append(label)
            splits.append(split)

    def load(indices: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray]:
        chosen = [resize_square(patches[i][None, None], size) for i in indices]
        return torch.cat(chosen), np.ones(len(indices), bool), {}

    return ImageSource("textures", list(TEXTURE_PHOTOS), np.array(labels), load, predefined=np.array(splits))


BUILTIN = {
    "digits": "scikit-learn's 1,797 handwritten digits (10 classes; digits:0-4 for a subset)",
    "textures": "patches of 6 real photos shipped with scikit-image, disjoint regions per split",
}


# What the pickers offer (an image folder is added by each UI in its own way).
SUGGESTED_DATASETS = ["textures", "digits", "digits:0-4", "digits:5-9", "cifar10", "flowers102", "oxford_pets",
                      "eurosat", "dtd"]


def list_datasets() -> dict[str, str]:
    from workbench.image_folder import FOLDER_HELP
    from workbench.torchvision_data import TORCHVISION_DATASETS

    described = dict(BUILTIN)
    described["imagefolder:PATH"] = FOLDER_HELP
    described.update({name: f"torchvision {info.title} (downloaded to the data folder)" for name, info in TORCHVISION_DATASETS.items()})
    return described


def open_source(spec: str, data_dir: Path | None = None) -> ImageSource:
    """Turn a dataset name (``digits:0-4``, ``imagefolder:PATH``, ``cifar10``...) into a source."""
    from workbench.image_folder import image_folder_source
    from workbench.torchvision_data import TORCHVISION_DATASETS, torchvision_source

    kind, _, argument = spec.partition(":")
    if kind == "digits":
        return digits_source(argument or None)
    if kind == "textures" and not argument:
        return textures_source()
    if kind == "imagefolder":
        if not argument:
            raise DataError("imagefolder needs a path: --dataset imagefolder:/path/to/images")
        return image_folder_source(Path(argument).expanduser())
    if kind in TORCHVISION_DATASETS and not argument:
        return torchvision_source(kind, data_dir or DEFAULT_DATA_DIR)
    raise DataError(f"unknown dataset {spec!r}; choose one of: {', '.join(list_datasets())}")


# --- splitting --------------------------------------------------------------------------------


def _carve(indices: np.ndarray, labels: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` per class into (rest, carved) with ``fraction`` carved out of each class."""
    rest, carved = [], []
    for label in np.unique(labels[indices]):
        members = rng.permutation(indices[labels[indices] == label])
        take = int(round(fraction * len(members)))
        if len(members) >= 2:
            take = min(max(take, 1), len(members) - 1)
        carved.append(members[:take])
        rest.append(members[take:])
    return np.concatenate(rest), np.concatenate(carved)


def make_splits(
    labels: np.ndarray,
    seed: int,
    predefined: np.ndarray | None = None,
    train_per_class: int | None = None,
    max_eval_per_class: int | None = None,
) -> dict[str, np.ndarray]:
    """Stratified, seeded train/val/test index arrays.

    Where the data fixes a split (``predefined``) it is kept; missing validation or test
    sets are carved per class from the training or validation set. ``train_per_class``
    keeps that many training images of each class (simulating small data);
    ``max_eval_per_class`` caps validation and test sets to keep evaluation quick.
    """
    rng = np.random.default_rng(seed)
    every = np.arange(len(labels))
    if predefined is None:
        rest, test = _carve(every, labels, TEST_FRACTION, rng)
        train, val = _carve(rest, labels, VAL_FRACTION / (1 - TEST_FRACTION), rng)
    else:
        train, val, test = (every[predefined == s] for s in SPLITS)
        if len(val) == 0:
            train, val = _carve(train, labels, VAL_FRACTION, rng)
        if len(test) == 0:
            val, test = _carve(val, labels, 0.5, rng)
    splits = {"train": train, "val": val, "test": test}
    if train_per_class is not None:
        splits["train"] = _per_class(train, labels, train_per_class, rng, strict=True)
    if max_eval_per_class is not None:
        for split in ("val", "test"):
            splits[split] = _per_class(splits[split], labels, max_eval_per_class, rng, strict=False)
    return {split: np.sort(indices) for split, indices in splits.items()}


def _per_class(indices: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator, strict: bool) -> np.ndarray:
    kept = []
    for label in np.unique(labels):
        members = rng.permutation(indices[labels[indices] == label])
        if strict and len(members) < count:
            raise DataError(
                f"train_per_class={count} but class {label} has only {len(members)} training images; "
                f"use --train-per-class {min_train_count(indices, labels)} or less"
            )
        kept.append(members[:count])
    return np.concatenate(kept)


def min_train_count(indices: np.ndarray, labels: np.ndarray) -> int:
    return int(min(np.sum(labels[indices] == c) for c in np.unique(labels)))


# --- loading with an in-memory cache ----------------------------------------------------------

_SOURCES: dict[tuple[str, str], ImageSource] = {}
_BUNDLES: dict[tuple, DataBundle] = {}
MAX_CACHED_BUNDLES = 8


def load_data(
    spec: str,
    image_size: int,
    split_seed: int = 0,
    train_per_class: int | None = None,
    max_eval_per_class: int | None = 100,
    data_dir: Path | None = None,
) -> DataBundle:
    """Decode the images of one split configuration, reusing earlier decodes in this process."""
    key = (spec, image_size, split_seed, train_per_class, max_eval_per_class, str(data_dir))
    if key in _BUNDLES:
        return _BUNDLES[key]
    source_key = (spec, str(data_dir))
    if source_key not in _SOURCES:
        _SOURCES[source_key] = open_source(spec, data_dir)
    source = _SOURCES[source_key]
    splits = make_splits(source.labels, split_seed, source.predefined, train_per_class, max_eval_per_class)
    images, labels = {}, {}
    notes = list(source.notes)
    for split, indices in splits.items():
        pixels, ok, skipped = source.load(indices, image_size)
        images[split] = pixels
        labels[split] = torch.as_tensor(source.labels[indices][ok], dtype=torch.long)
        notes += [f"{split}: skipped {count} {why}" for why, count in skipped.items()]
    if labels["train"].unique().numel() < 2:
        raise DataError(f"{spec}: the training split has fewer than two classes; add images to more class folders")
    bundle = DataBundle(source.name, source.classes, images, labels, notes)
    if len(_BUNDLES) >= MAX_CACHED_BUNDLES:
        _BUNDLES.pop(next(iter(_BUNDLES)))
    _BUNDLES[key] = bundle
    return bundle
