"""Datasets by name: the registry of dataset kinds, and a run's images decoded once and kept in memory.

A name is a kind, optionally followed by ``:`` and an argument: ``textures``, ``digits:0-4``,
``imagefolder:PATH``, ``fashion_mnist``, ``cifar10``. Each kind lives in its own module and
registers itself (`workbench.data.sources`); this module imports them all, so asking here sees every
kind. Splitting happens on the labels first, so only the images a run uses are ever decoded;
the decoded ``uint8`` tensors are kept for later runs with the same data settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from workbench.core import settings
from workbench.core.errors import DataError
from workbench.data.kinds import builtin as builtin_data
from workbench.data.kinds import fashion_mnist
from workbench.data.kinds import folders as image_folder
from workbench.data.kinds import torchvision_sets as torchvision_data
from workbench.data.sources import DATASET_KINDS, DataBundle, DatasetKind, ImageSource, shuffle_blocks
from workbench.data.splits import make_splits

if TYPE_CHECKING:
    from workbench.data.roots import DataRoots
    from workbench.spec.config import RunConfig

MAX_CACHED_BUNDLES = 8
# Importing a kind's module registers it; listed in the order people are shown them, offline ones first.
KIND_MODULES = [module.__name__ for module in (builtin_data, fashion_mnist, image_folder, torchvision_data)]


def _kinds() -> list[DatasetKind]:
    """Every registered kind in `KIND_MODULES` order (kinds registered elsewhere last), whoever imported first."""

    def rank(kind: DatasetKind) -> int:
        module = kind.open.__module__
        return KIND_MODULES.index(module) if module in KIND_MODULES else len(KIND_MODULES)

    return sorted(DATASET_KINDS.values(), key=rank)


def list_datasets() -> dict[str, str]:
    """How to write each kind of dataset name, and what it is."""
    return {kind.usage or kind.name: kind.description for kind in _kinds()}


def suggested_datasets() -> list[str]:
    """The names a picker offers, offline ones first (an image folder is added by each UI its own way)."""
    return [name for kind in _kinds() for name in kind.suggested]


def dataset_kind(spec: str) -> tuple[DatasetKind, str]:
    """A dataset name (``digits:0-4``, ``imagefolder:PATH``, ``cifar10``...) -> its kind and what follows ':'."""
    name, colon, argument = spec.partition(":")
    kind = DATASET_KINDS.get(name)
    if kind is None or (colon and not kind.takes_argument):
        raise DataError(f"unknown dataset {spec!r}; choose one of: {', '.join(list_datasets())}")
    return kind, argument


def open_source(spec: str, data_dir: Path | None = None) -> ImageSource:
    """Turn a dataset name into a source."""
    kind, argument = dataset_kind(spec)
    return kind.open(argument, data_dir or settings.data_dir())


def check_dataset(spec: str, data_dir: Path, roots: DataRoots | None = None) -> None:
    """The kind's own check, in a second and decoding nothing (the folder is there, the set is downloaded)."""
    kind, argument = dataset_kind(spec)
    if kind.check is not None:
        kind.check(argument, data_dir, roots)


def confined(spec: str, roots: DataRoots | None) -> str:
    """The dataset name with its argument resolved inside a class page's ``roots`` (None: as written)."""
    kind, argument = dataset_kind(spec)
    return spec if roots is None or kind.confine is None else f"{kind.name}:{kind.confine(argument, roots)}"


def opens_cheaply(spec: str) -> bool:
    return dataset_kind(spec)[0].opens_cheaply


def dataset_label(spec: str) -> str:
    """A dataset as pages and tables name it: the kind's own label (a folder by its name, not where it is)."""
    try:
        kind, argument = dataset_kind(spec)
    except DataError:
        return spec
    return spec if kind.label is None else kind.label(argument)


def dataset_identity(spec: str) -> str:
    """What fixes a dataset's content for reuse: its name, or for a folder what the kind reads of its files."""
    kind, argument = dataset_kind(spec)
    return spec if kind.identity is None else f"{kind.name}:{kind.identity(argument)}"


_SOURCES: dict[tuple[str, str], ImageSource] = {}
_BUNDLES: dict[tuple, DataBundle] = {}


def _source(config: RunConfig) -> ImageSource:
    """The config's dataset opened once per process (labels read, nothing decoded)."""
    data_dir = Path(config.data_dir) if config.data_dir else None
    key = (dataset_identity(config.dataset), str(data_dir))
    if key not in _SOURCES:
        _SOURCES[key] = open_source(config.dataset, data_dir)
    return _SOURCES[key]


def split_sizes(config: RunConfig) -> tuple[dict[str, int], int, ImageSource]:
    """How many images each split of ``config`` holds, its class count and its source, from the labels alone
    (nothing decoded): what an estimate needs. A dataset that opening would download or read whole (a torchvision
    set not yet opened in this process) raises `DataError` instead."""
    data_dir = Path(config.data_dir) if config.data_dir else None
    if not opens_cheaply(config.dataset) and (dataset_identity(config.dataset), str(data_dir)) not in _SOURCES:
        raise DataError(f"{config.dataset} is not opened yet: its size is not known without reading it")
    source = _source(config)
    splits = make_splits(source.labels, config.split_seed, source.predefined, config.train_per_class,
                         config.max_eval_per_class, source.groups, source.classes)
    return {split: len(indices) for split, indices in splits.items()}, len(source.classes), source


def load_data(config: RunConfig) -> DataBundle:
    """Decode the images of ``config``'s dataset and splits, reusing earlier decodes in this process."""
    data_dir = Path(config.data_dir) if config.data_dir else None
    identity = dataset_identity(config.dataset)  # a folder's images may have changed since (one image added)
    key = (identity, config.image_size, config.split_seed, config.train_per_class, config.max_eval_per_class,
           str(data_dir), config.block_shuffle)
    if key in _BUNDLES:
        return _BUNDLES[key]
    source = _source(config)
    splits = make_splits(source.labels, config.split_seed, source.predefined, config.train_per_class,
                         config.max_eval_per_class, source.groups, source.classes)
    images, labels = {}, {}
    notes = list(source.notes)
    shuffle = torch.Generator().manual_seed(config.split_seed)
    for split, indices in splits.items():
        pixels, ok, skipped = source.load(indices, config.image_size)
        images[split] = shuffle_blocks(pixels, config.block_shuffle, shuffle) if config.block_shuffle else pixels
        labels[split] = torch.as_tensor(source.labels[indices][ok], dtype=torch.long)
        notes += [f"{split}: skipped {count} {why}" for why, count in skipped.items()]
    if labels["train"].unique().numel() < 2:
        raise DataError(f"{config.dataset}: the training split has fewer than two classes; "
                        f"add images to more class folders")
    bundle = DataBundle(source.name, source.classes, images, labels, notes)
    if len(_BUNDLES) >= MAX_CACHED_BUNDLES:
        _BUNDLES.pop(next(iter(_BUNDLES)))
    _BUNDLES[key] = bundle
    return bundle
