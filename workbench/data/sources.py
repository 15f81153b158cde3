"""What every dataset kind shares: an `ImageSource` to open, the decoded `DataBundle`, and the registry.

A dataset kind (built-in, image folder, torchvision, Fashion-MNIST...) lives in its own module,
imports only this one and registers itself with `register_dataset`; `workbench.data.loading` imports the
kinds and turns a name into a bundle. Keeping the shared pieces here is what lets the kinds and
`data.py` depend on each other in one direction only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn.functional as F

from workbench.core.registry import register_once

if TYPE_CHECKING:
    from workbench.data.roots import DataRoots

SPLITS = ("train", "val", "test")

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
    groups: np.ndarray | None = None  # near-copies (a capture session) per image: the splits keep each whole


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


def shuffle_blocks(images: torch.Tensor, block: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 (N, C, H, W) -> each image cut into square blocks ``block`` pixels wide, put back in an order
    of its own (Neyshabur et al. 2020): what is left is each block's content, not where it was."""
    n, c, h, w = images.shape
    rows, cols = h // block, w // block
    blocks = images.reshape(n, c, rows, block, cols, block).permute(0, 2, 4, 1, 3, 5).reshape(n, rows * cols, c,
                                                                                             block, block)
    order = torch.argsort(torch.rand(n, rows * cols, generator=generator), dim=1)
    blocks = blocks[torch.arange(n)[:, None], order]
    return blocks.reshape(n, rows, cols, c, block, block).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


# --- the registry of dataset kinds --------------------------------------------------------------


@dataclass(frozen=True)
class DatasetKind:
    """One kind of dataset, named by the part of a dataset name before any ':'."""

    name: str  # 'digits', 'imagefolder', 'cifar10'
    description: str
    open: Callable[[str, Path], ImageSource]  # (what follows the ':', data folder) -> source
    usage: str = ""  # how `workbench datasets` writes it, e.g. 'imagefolder:PATH' (default: the name)
    takes_argument: bool = False  # 'digits:0-4', 'imagefolder:PATH'
    suggested: tuple[str, ...] = ()  # names the pickers offer
    # What a kind answers for itself, so no other module parses its names:
    check: Callable[[str, Path, "DataRoots | None"], None] | None = None  # preflight: a second, nothing decoded
    identity: Callable[[str], str] | None = None  # what reuse compares, where the name does not fix the content
    confine: Callable[[str, "DataRoots"], str] | None = None  # the argument resolved inside a class page's roots
    opens_cheaply: bool = False  # no download, only labels read: a picker may open it to count classes
    label: Callable[[str], str] | None = None  # how a page shared by a class names it (a folder: not its path)


DATASET_KINDS: dict[str, DatasetKind] = {}


def register_dataset(kind: DatasetKind) -> DatasetKind:
    return register_once(DATASET_KINDS, kind.name, kind, "dataset kind")
