"""Where each network looks: Grad-CAM heatmaps over the same test images.

Grad-CAM (Selvaraju et al., 2017) weighs the channels of the last spatial activation by the
average gradient of a class score and keeps the positive part: bright where evidence for that
class sits. We use the maintained ``grad-cam`` package; the only thing it needs from a
`StagedNet` is that layer, found as the module that feeds the global pooling of the last stage.
Its resolution is the image size over the network's stride (64 px on EfficientNet-Lite0: 2 x 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from workbench.inside.networks import ROLES, Networks, evaluate_batches, spread_over_classes
from workbench.models.backbones import StagedNet


def cam_layer(model: StagedNet) -> nn.Module:
    """The last module with a spatial output: the one right before the first global pooling."""
    modules = [child for stage in model.stage_list()
               for child in (stage.children() if isinstance(stage, nn.Sequential) else [stage])]
    pooling = next(i for i, m in enumerate(modules) if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)))
    return modules[pooling - 1]


def grad_cam(model: StagedNet, x: torch.Tensor, classes: list[int]) -> np.ndarray:
    """Heatmaps (N, H, W) in 0..1 for each image's given class; each scaled to its own maximum."""
    from pytorch_grad_cam import GradCAM  # here: it imports scikit-learn and OpenCV, a second at every page's start
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with GradCAM(model=model, target_layers=[cam_layer(model)]) as cam:
        heatmaps = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in classes])
    model.zero_grad(set_to_none=True)
    return heatmaps


def cam_grid(model: StagedNet, x: torch.Tensor) -> tuple[int, int]:
    """The (rows, columns) of the activation Grad-CAM weighs: how coarse its heatmap is."""
    shapes = []
    handle = cam_layer(model).register_forward_hook(lambda _m, _i, out: shapes.append(out.shape[-2:]))
    with torch.inference_mode():
        model.features(x[:1])
    handle.remove()
    return tuple(shapes[0])


@dataclass
class WhereItLooks:
    images: torch.Tensor  # uint8 (N, 3, H, W)
    labels: list[int]
    predicted: dict[str, list[int]]
    confidence: dict[str, list[float]]
    heatmaps: dict[str, np.ndarray]  # role -> (N, H, W), for the class the network predicted
    grid: tuple[int, int]


def where_it_looks(networks: Networks, count: int = 8) -> WhereItLooks:
    """Both trained networks' Grad-CAM on the same test images, each for its own prediction."""
    chosen = spread_over_classes(networks.data.labels["test"], count)
    images = networks.data.images["test"][chosen]
    x = networks.inputs(images)
    predicted, confidence, heatmaps = {}, {}, {}
    for role in ROLES:
        model = networks.trained[role]
        probabilities = evaluate_batches(model, x)[1].softmax(1)
        top = probabilities.max(1)
        predicted[role], confidence[role] = top.indices.tolist(), top.values.tolist()
        heatmaps[role] = grad_cam(model, x, predicted[role])
    labels = networks.data.labels["test"][chosen].tolist()
    return WhereItLooks(images, labels, predicted, confidence, heatmaps, cam_grid(networks.trained["transfer"], x))


def describe(view: WhereItLooks) -> list[str]:
    rows, cols = view.grid
    return [f"Grad-CAM on {len(view.labels)} test images, a {rows}x{cols} grid per image; "
            + ", ".join(f"{role} right on {sum(p == t for p, t in zip(view.predicted[role], view.labels))}"
                        for role in view.predicted)]
