"""Checks that take a second and catch what would otherwise fail a job in its first seconds.

A job that fails after it starts has already cost the wait, and its error reaches the person
who launched it late and out of place. So before launching, every interface asks `preflight`
about what can be known without training: the image folder exists and holds images of two
classes or more, the backbone's ImageNet weights are here or can be downloaded, a torchvision
dataset is here or can be downloaded. Messages name the setting, not a command-line flag.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from workbench.core import network, settings
from workbench.core.errors import WeightsError, WorkbenchError
from workbench.data.loading import check_dataset, confined, open_source, opens_cheaply
from workbench.data.roots import DataRoots
from workbench.spec.config import ComparisonConfig


def check_weights(backbone: str) -> None:
    """The backbone's ImageNet weights are on this machine, or their server (or the school's mirror) answers."""
    from workbench.models.weights.status import weights_file

    file = weights_file(backbone)
    if file.state != "missing":
        return
    from workbench.models.backbones import get_backbone

    url = settings.weights_mirror() or getattr(get_backbone(backbone).weights, "url", "")
    if not network.online(urlparse(url).hostname or network.PROBE_HOST):
        by_hand = f", or place {file.file_name} in {file.path.parent}" if file.path else ""
        raise WeightsError(f"{backbone} has no ImageNet weights on this machine and cannot download them "
                           f"offline; pick efficientnet_lite0 (its weights come with the workbench), "
                           f"run `{file.how_to_get}` once while online{by_hand}")


def class_count(dataset: str, roots: DataRoots | None = None) -> int | None:
    """How many classes ``dataset`` has, where that is known without a download (else None): it sizes the
    new head on a stage map before anything runs. With ``roots``, a folder outside them is not opened."""
    try:
        if not opens_cheaply(dataset):
            return None
        return len(open_source(confined(dataset, roots)).classes)
    except WorkbenchError:
        return None


def preflight(configs: list[ComparisonConfig], roots: DataRoots | None = None) -> None:
    """Raise a one-line `WorkbenchError` for the first problem the configs' data or weights would hit;
    ``roots``: the only folders an image folder may be in (a class page's), None for any."""
    for dataset, data_dir in dict.fromkeys((c.transfer.dataset, c.transfer.data_dir) for c in configs):
        check_dataset(dataset, Path(data_dir) if data_dir else settings.data_dir(), roots)
    for backbone in dict.fromkeys(c.transfer.backbone for c in configs if c.transfer.init_run is None):
        check_weights(backbone)
