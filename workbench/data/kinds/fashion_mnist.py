"""Fashion-MNIST: 70,000 real 28x28 grayscale photos of clothing in 10 classes (Zalando Research).

Big enough to show what 2 to 6,000 labels per class do. Offline it comes from Debian's package
``dataset-fashion-mnist``; without it, torchvision downloads it into the data folder. Debian's
files are read directly (gzip + numpy): they hold the same IDX data as torchvision's but
compress differently, so torchvision's checksum would refuse them. The raw arrays are read once
per process and only the images a run uses are resized. Train 60,000 / test 10,000 as published;
validation is carved from train.
"""

from __future__ import annotations

import functools
import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from workbench.core.errors import DataError
from workbench.data.sources import DatasetKind, ImageSource, register_dataset, resize_square

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
INSTALL = "sudo apt-get install dataset-fashion-mnist"
RESIZE_CHUNK = 4096  # images resized at once: bounds the float copy to a few MB


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file of bytes (the MNIST format) -> uint8 array in the shape its header gives."""
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
        if raw[:3] != b"\x00\x00\x08":
            raise ValueError("not an IDX file of bytes")
        ndim = raw[3]
        shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, EOFError, ValueError, struct.error) as exc:
        raise DataError(f"{path} cannot be read ({exc}); reinstall it: {INSTALL} --reinstall") from exc


def _download(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from torchvision.datasets import FashionMNIST

    try:
        parts = {split: FashionMNIST(str(data_dir), train=split == "train", download=True) for split in FILES}
    except Exception as exc:  # noqa: BLE001 - offline shows up as many exception types
        raise DataError(
            f"fashion_mnist is not in {DEBIAN_DIR} and could not be downloaded to {data_dir} "
            f"({type(exc).__name__}); install it with `{INSTALL}` or connect to the internet once"
        ) from exc
    return {split: (part.data.numpy(), part.targets.numpy()) for split, part in parts.items()}


@functools.lru_cache(maxsize=2)
def _arrays(debian_dir: Path, data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All images (N, 28, 28), their labels and their published split, read once per process."""
    if all((debian_dir / name).is_file() for pair in FILES.values() for name in pair):
        parts = {split: (read_idx(debian_dir / images), read_idx(debian_dir / labels))
                 for split, (images, labels) in FILES.items()}
    else:
        parts = _download(data_dir)
    images = np.concatenate([images for images, _ in parts.values()])
    labels = np.concatenate([labels for _, labels in parts.values()]).astype(np.int64)
    splits = np.concatenate([[split] * len(labels) for split, (_, labels) in parts.items()])
    return images, labels, splits


def fashion_mnist_source(argument: str, data_dir: Path) -> ImageSource:
    images, labels, splits = _arrays(DEBIAN_DIR, data_dir)

    def load(indices: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray, dict[str, int]]:
        chunks = [resize_square(torch.from_numpy(images[indices[i : i + RESIZE_CHUNK]]).unsqueeze(1) / 255.0, size)
                  for i in range(0, len(indices), RESIZE_CHUNK)]
        pixels = torch.cat(chunks) if chunks else torch.empty(0, 3, size, size, dtype=torch.uint8)
        return pixels, np.ones(len(indices), bool), {}

    return ImageSource("fashion_mnist", list(CLASSES), labels, load, predefined=splits)


register_dataset(DatasetKind(
    "fashion_mnist", f"Zalando's 70,000 28x28 clothing photos, 10 classes (offline: {INSTALL})",
    fashion_mnist_source, suggested=("fashion_mnist",),
))
