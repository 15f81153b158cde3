"""Checks that take a second and catch what would otherwise fail a job in its first seconds.

A job that fails after it starts has already cost the wait, and its error reaches the person
who launched it late and out of place. So before launching, every interface asks `preflight`
about what can be known without training: the image folder exists and holds images of two
classes or more, the backbone's ImageNet weights are here or can be downloaded, a torchvision
dataset is here or can be downloaded. Messages name the setting, not a command-line flag.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from workbench.core import settings
from workbench.core.errors import DataError, WeightsError
from workbench.data.roots import DataRoots
from workbench.spec.config import ComparisonConfig

PROBE_HOST = "download.pytorch.org"  # torchvision's weights; its answer stands for "online" in general
PROBE_TIMEOUT_S = 2.0


def online(host: str = PROBE_HOST) -> bool:
    """Whether ``host`` answers on HTTPS within two seconds (a hanging DNS lookup counts as no)."""
    answered = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=PROBE_TIMEOUT_S).close()
            answered.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    return bool(answered)


def check_image_folder(argument: str, roots: DataRoots | None = None) -> None:
    """The folder exists and has images of two classes or more (read from names only: nothing is decoded).
    With ``roots`` (a class page), a folder outside them is refused first, in one line that says nothing of it."""
    from workbench.data.kinds.folders import image_folder_source

    if roots is not None:
        image_folder_source(roots.folder(argument))
        return
    if not argument.strip():
        raise DataError("give the path of your image folder (one sub-folder of images per class)")
    image_folder_source(Path(argument.strip()).expanduser())


def check_torchvision_data(name: str, data_dir: Path) -> None:
    """A torchvision dataset is in ``data_dir`` already, or this machine can download it."""
    import torchvision.datasets

    from workbench.data.kinds.torchvision_sets import TORCHVISION_DATASETS

    info = TORCHVISION_DATASETS[name]
    try:
        for kwargs in info.splits.values():
            getattr(torchvision.datasets, info.class_name)(root=str(data_dir), download=False, **kwargs)
    except Exception:  # noqa: BLE001 - torchvision says "not found" with several exception types
        if not online():
            raise DataError(f"{info.title} is not downloaded yet (looked in {data_dir}) and this machine is "
                            f"offline; pick a built-in dataset such as textures or digits") from None


def check_weights(backbone: str) -> None:
    """The backbone's ImageNet weights are on this machine, or their server (or the school's mirror) answers."""
    from workbench.models.weights.status import weights_file

    file = weights_file(backbone)
    if file.state != "missing":
        return
    from workbench.models.backbones import get_backbone

    url = settings.weights_mirror() or getattr(get_backbone(backbone).weights, "url", "")
    if not online(urlparse(url).hostname or PROBE_HOST):
        by_hand = f", or place {file.file_name} in {file.path.parent}" if file.path else ""
        raise WeightsError(f"{backbone} has no ImageNet weights on this machine and cannot download them "
                           f"offline; pick efficientnet_lite0 (its weights come with the workbench), "
                           f"run `{file.how_to_get}` once while online{by_hand}")


OPENED_CHEAPLY = ("digits", "textures", "imagefolder")  # no download, and only labels are read to open them


def class_count(dataset: str, roots: DataRoots | None = None) -> int | None:
    """How many classes ``dataset`` has, where that is known without a download (else None): it sizes the
    new head on a stage map before anything runs. With ``roots``, a folder outside them is not opened."""
    from workbench.core.errors import WorkbenchError
    from workbench.data.loading import open_source

    kind, _, argument = dataset.partition(":")
    if kind not in OPENED_CHEAPLY:
        return None
    try:
        if kind == "imagefolder" and roots is not None:
            dataset = f"imagefolder:{roots.folder(argument)}"
        return len(open_source(dataset).classes)
    except WorkbenchError:
        return None


def preflight(configs: list[ComparisonConfig], roots: DataRoots | None = None) -> None:
    """Raise a one-line `WorkbenchError` for the first problem the configs' data or weights would hit;
    ``roots``: the only folders an image folder may be in (a class page's), None for any."""
    from workbench.data.kinds.torchvision_sets import TORCHVISION_DATASETS

    for dataset, data_dir in dict.fromkeys((c.transfer.dataset, c.transfer.data_dir) for c in configs):
        kind, _, argument = dataset.partition(":")
        if kind == "imagefolder":
            check_image_folder(argument, roots)
        elif kind in TORCHVISION_DATASETS:
            check_torchvision_data(kind, Path(data_dir) if data_dir else settings.data_dir())
    for backbone in dict.fromkeys(c.transfer.backbone for c in configs if c.transfer.init_run is None):
        check_weights(backbone)
