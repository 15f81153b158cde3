"""The two built-in datasets: real images that ship with scikit-learn and scikit-image, always offline.

* ``textures`` — six real photographs shipped with scikit-image (brick, grass, gravel, moon,
  cell, immunohistochemistry), converted to grayscale. Each photo is cut along its width into
  three disjoint bands: the left 60% gives training patches, the next 20% validation patches
  and the last 20% test patches, so no pixel is shared across splits. Square patches (side
  18% of the photo's shorter side) are taken at seeded random positions inside each band
  (80 / 30 / 30 per class) and resized to the image size.
* ``digits`` — scikit-learn's 1,797 real 8x8 handwritten digits (values 0..16), scaled to
  0..255, upsampled bilinearly to the image size and repeated to 3 channels. ``digits:0-4``,
  ``digits:5-9`` or ``digits:1,3,7`` keep those classes (relabelled 0..k-1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from workbench.core.errors import DataError
from workbench.data.sources import DatasetKind, ImageSource, register_dataset, resize_square

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


def textures_source(argument: str = "", data_dir: Path | None = None) -> ImageSource:
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

    def load(indices: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray, dict[str, int]]:
        chosen = [resize_square(patches[i][None, None], size) for i in indices]
        return torch.cat(chosen), np.ones(len(indices), bool), {}

    return ImageSource("textures", list(TEXTURE_PHOTOS), np.array(labels), load, predefined=np.array(splits))


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


def digits_source(subset: str = "", data_dir: Path | None = None) -> ImageSource:
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = _parse_classes(subset, 10) if subset else list(range(10))
    mask = np.isin(digits.target, keep)
    pixels = torch.from_numpy(digits.images[mask] / 16.0).float().unsqueeze(1)
    remap = {c: i for i, c in enumerate(keep)}
    labels = np.array([remap[t] for t in digits.target[mask]])

    def load(indices: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray, dict[str, int]]:
        return resize_square(pixels[torch.as_tensor(indices)], size), np.ones(len(indices), bool), {}

    name = f"digits:{subset}" if subset else "digits"
    return ImageSource(name, [str(c) for c in keep], labels, load)


register_dataset(DatasetKind(
    "textures", "patches of 6 real photos shipped with scikit-image, disjoint regions per split", textures_source,
    suggested=("textures",), opens_cheaply=True,
))
register_dataset(DatasetKind(
    "digits", "scikit-learn's 1,797 handwritten digits (10 classes; digits:0-4 for a subset)", digits_source,
    takes_argument=True, suggested=("digits", "digits:0-4", "digits:5-9"), opens_cheaply=True,
))
