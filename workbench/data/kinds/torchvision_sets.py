"""Standard benchmark datasets from torchvision, downloaded once to the data folder.

Each keeps its official splits where it has them; only the images a run uses are decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets as tvd

from workbench.core import network
from workbench.core.errors import DataError
from workbench.data.sources import DatasetKind, ImageSource, register_dataset, resize_square


@dataclass(frozen=True)
class TorchvisionDataset:
    title: str
    class_name: str
    splits: dict[str, dict]  # our split name -> constructor arguments


TORCHVISION_DATASETS = {
    "cifar10": TorchvisionDataset("CIFAR-10", "CIFAR10", {"train": {"train": True}, "test": {"train": False}}),
    "flowers102": TorchvisionDataset(
        "Oxford Flowers-102", "Flowers102", {s: {"split": s} for s in ("train", "val", "test")}
    ),
    "oxford_pets": TorchvisionDataset(
        "Oxford-IIIT Pets", "OxfordIIITPet", {"train": {"split": "trainval"}, "test": {"split": "test"}}
    ),
    "eurosat": TorchvisionDataset("EuroSAT (RGB satellite)", "EuroSAT", {"train": {}}),
    "dtd": TorchvisionDataset("Describable Textures", "DTD", {s: {"split": s} for s in ("train", "val", "test")}),
}


def _labels(dataset) -> list[int]:
    for attribute in ("targets", "_labels"):
        if hasattr(dataset, attribute):
            return list(getattr(dataset, attribute))
    return [dataset[i][1] for i in range(len(dataset))]


def torchvision_source(name: str, data_dir: Path) -> ImageSource:
    info = TORCHVISION_DATASETS[name]
    constructor = getattr(tvd, info.class_name)
    parts, labels, splits = [], [], []
    for split, kwargs in info.splits.items():
        try:
            dataset = constructor(root=str(data_dir), download=True, **kwargs)
        except Exception as exc:  # noqa: BLE001 - offline shows up as many exception types
            raise DataError(
                f"{name} is not in {data_dir} and could not be downloaded ({type(exc).__name__}); "
                f"connect to the internet once, or use a built-in dataset (digits, textures)"
            ) from exc
        part_labels = _labels(dataset)
        parts += [(dataset, i) for i in range(len(dataset))]
        labels += part_labels
        splits += [split] * len(part_labels)
    classes = [str(c) for c in getattr(parts[0][0], "classes", sorted(set(labels)))]

    def load(indices: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray, dict[str, int]]:
        images = []
        for i in indices:
            dataset, j = parts[i]
            image = dataset[j][0].convert("RGB")
            array = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
            images.append(resize_square(array[None], size)[0])
        return torch.stack(images), np.ones(len(indices), bool), {}

    predefined = np.array(splits) if len(info.splits) > 1 else None
    return ImageSource(name, classes, np.array(labels), load, predefined)


def check_downloaded(name: str, data_dir: Path) -> None:
    """A torchvision dataset is in ``data_dir`` already, or this machine can download it."""
    info = TORCHVISION_DATASETS[name]
    try:
        for kwargs in info.splits.values():
            getattr(tvd, info.class_name)(root=str(data_dir), download=False, **kwargs)
    except Exception:  # noqa: BLE001 - torchvision says "not found" with several exception types
        if not network.online():
            raise DataError(f"{info.title} is not downloaded yet (looked in {data_dir}) and this machine is "
                            f"offline; pick a built-in dataset such as textures or digits") from None


def _register(name: str, info: TorchvisionDataset) -> None:
    register_dataset(DatasetKind(name, f"torchvision {info.title} (downloaded to the data folder)",
                                 lambda argument, data_dir: torchvision_source(name, data_dir), suggested=(name,),
                                 check=lambda argument, data_dir, roots: check_downloaded(name, data_dir)))


for _name, _info in TORCHVISION_DATASETS.items():
    _register(_name, _info)
