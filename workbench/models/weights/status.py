"""Which backbones can train from ImageNet weights on this machine, and how to make the rest ready.

The weights tool (`workbench weights ...`), the dashboard and the widgets all ask here, so a
teacher preparing an offline classroom and a student picking a backbone see the same answer
and the same one command that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import WeightsError
from workbench.models.backbones import TorchvisionWeights, get_backbone, list_backbones
from workbench.models.weights.download import download, verifies


@dataclass(frozen=True)
class WeightsFile:
    """One backbone's weights file as this machine has it."""

    backbone: str
    state: str  # "shipped" (with a pip package), "cached" (downloaded) or "missing"
    path: Path | None  # where the file is, or where it would be downloaded to
    size: int | None  # bytes on disk
    download_mb: float | None  # what a download costs, for a missing torchvision file
    verified: bool | None  # None: not checked, or nothing to check
    how_to_get: str  # the one command that makes it ready; "" when it is

    @property
    def file_name(self) -> str:
        return self.path.name if self.path else ""

    def as_dict(self) -> dict:
        return {"backbone": self.backbone, "state": self.state, "file": self.file_name,
                "path": str(self.path) if self.path else None, "size": self.size,
                "download_mb": self.download_mb, "verified": self.verified, "how_to_get": self.how_to_get}


def weights_file(name: str, check: bool = False) -> WeightsFile:
    """``name``'s weights file; ``check`` hashes it (a second per 500 MB)."""
    source = get_backbone(name).weights
    path = source.path
    present = source.available_offline()
    state = "missing" if not present else "shipped" if source.shipped else "cached"
    return WeightsFile(
        backbone=name, state=state, path=path,
        size=path.stat().st_size if present else None,
        download_mb=source.download_mb if isinstance(source, TorchvisionWeights) else None,
        verified=verifies(path) if present and check else None,
        how_to_get="" if present else source.how_to_get(name),
    )


def weights_files(check: bool = False) -> list[WeightsFile]:
    return [weights_file(name, check) for name in list_backbones()]


def weights_status(backbone: str) -> tuple[bool, str]:
    """(ready offline, the command that makes it ready or ""), for a UI's backbone picker.

    It looks for the file without hashing it, so it is cheap enough to call on every rerun.
    """
    file = weights_file(backbone)
    return file.state != "missing", file.how_to_get


def fetch(names: Iterable[str], mirror: str | None = None, progress: bool = True) -> Iterator[str]:
    """Download each backbone's weights unless a verified copy is here; one line of news per backbone.

    A cached file that does not verify is downloaded again and replaced only by a verified copy.
    """
    for name in names:
        source = get_backbone(name).weights
        if source.shipped:
            if not source.available_offline():
                raise WeightsError(f"{name}: its weights ship with a pip package that is not installed; "
                                   f"{source.how_to_get(name)}")
            yield f"{name}: ships with {source.package}, nothing to fetch"
            continue
        if source.available_offline() and verifies(source.path):
            yield f"{name}: {source.file_name} already cached and verified"
            continue
        path = download(source.file_name, source.url, source.cache_dir(), mirror=mirror, progress=progress)
        yield f"{name}: {source.file_name} fetched and verified ({path.stat().st_size / 1e6:.1f} MB) into {path.parent}"


def downloadable() -> list[str]:
    """The backbones whose weights come from a download (what ``fetch --all`` fetches)."""
    return [name for name in list_backbones() if not get_backbone(name).weights.shipped]


def verify() -> list[WeightsFile]:
    """Hash every weights file on this machine, cached and shipped."""
    return [file for file in weights_files(check=True) if file.state != "missing"]


def raise_if_corrupt(files: list[WeightsFile]) -> None:
    """One line naming each file that does not verify and how to be rid of it."""
    bad = [file for file in files if file.verified is False]
    if bad:
        fixes = "; ".join(f"{file.file_name}: {get_backbone(file.backbone).weights.how_to_repair(file.backbone)}"
                          for file in bad)
        raise WeightsError(f"{len(bad)} weights file(s) do not match the SHA-256 in their name: {fixes}")
