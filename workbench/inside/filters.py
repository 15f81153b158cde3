"""The first layer's filters as small RGB images: what a network's first convolution looks for.

ImageNet's first filters are edges, colour blobs and gratings; fine-tuning on a little data
barely changes them; a network trained from scratch on the same little data keeps much of
its random start.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from workbench.inside.networks import Networks
from workbench.models.backbones import StagedNet


def first_conv(model: StagedNet) -> nn.Conv2d:
    return next(m for m in model.stage_list()[0].modules() if isinstance(m, nn.Conv2d))


def filter_images(model: StagedNet) -> np.ndarray:
    """uint8 (filters, k, k, 3): each filter scaled on its own, zero at mid-grey."""
    weight = first_conv(model).weight.detach().float()
    scale = weight.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return (weight / scale * 127.5 + 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def first_layer_filters(networks: Networks) -> dict[str, np.ndarray]:
    """{label: filter images} for the transfer run's start, the fine-tuned network and the scratch one."""
    return {networks.start_label: filter_images(networks.start["transfer"]),
            "fine-tuned": filter_images(networks.trained["transfer"]),
            "scratch (trained)": filter_images(networks.trained["scratch"])}


def describe(filters: dict[str, np.ndarray]) -> list[str]:
    first = next(iter(filters.values()))
    return [f"first-layer filters: {len(first)} of {first.shape[1]}x{first.shape[2]} for " + ", ".join(filters)]
