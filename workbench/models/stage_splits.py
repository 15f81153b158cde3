"""How each architecture's layers group into ordered stages (the units freeze depth counts),
and which linear layer is its head. Each splitter takes a built torchvision or EfficientNet-Lite
model and returns ``(stages, head)``; `backbones.py` registers them.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

Stages = list[tuple[str, nn.Module]]


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


def split_lite(m: nn.Module) -> tuple[Stages, nn.Linear]:
    blocks = list(m._blocks)
    rate = m._global_params.drop_connect_rate or 0.0
    rates = [rate * i / len(blocks) for i in range(len(blocks))]
    starts = _lite_group_starts(blocks)
    runs = [(name, _LiteBlocks(blocks[starts[a]:starts[b]], rates[starts[a]:starts[b]])) for name, a, b in _LITE_STAGES]
    runs[0] = ("stem", _sequential(m._conv_stem, m._bn0, nn.ReLU6(), runs[0][1]))
    head = ("conv_head", _sequential(m._conv_head, m._bn1, nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    return [*runs, head], m._fc


def split_resnet(m: nn.Module) -> tuple[Stages, nn.Linear]:
    return [
        ("stem", _sequential(m.conv1, m.bn1, m.relu, m.maxpool)),
        ("layer1", m.layer1),
        ("layer2", m.layer2),
        ("layer3", m.layer3),
        ("layer4", _sequential(m.layer4, m.avgpool, nn.Flatten())),
    ], m.fc


def vgg_splitter(pool_indices: list[int]):
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


def googlenet_architecture() -> nn.Module:
    from torchvision.models import googlenet

    return googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=True)


def split_googlenet(m: nn.Module) -> tuple[Stages, nn.Linear]:
    return [
        ("stem", _sequential(_GoogLeNetInput(m), m.conv1, m.maxpool1, m.conv2, m.conv3, m.maxpool2)),
        ("inception3", _sequential(m.inception3a, m.inception3b, m.maxpool3)),
        ("inception4", _sequential(m.inception4a, m.inception4b, m.inception4c, m.inception4d, m.inception4e, m.maxpool4)),
        ("inception5", _sequential(m.inception5a, m.inception5b, m.avgpool, nn.Flatten(), m.dropout)),
    ], m.fc


def features_splitter(groups: list[tuple[str, int, int]], tail: Callable[[nn.Module], list[nn.Module]], head_index: int = -1):
    """Split ``model.features`` by index ranges; ``tail`` gives the pooling that ends the last stage."""

    def split(m: nn.Module) -> tuple[Stages, nn.Linear]:
        features = list(m.features)
        stages = [(name, _sequential(*features[a:b])) for name, a, b in groups]
        last_name, last = stages[-1]
        stages[-1] = (last_name, _sequential(*last, *tail(m)))
        return stages, list(m.classifier)[head_index]

    return split


def mobilenet_tail(m: nn.Module) -> list[nn.Module]:
    return [m.avgpool, nn.Flatten(), *list(m.classifier)[:-1]]


def efficientnet_tail(m: nn.Module) -> list[nn.Module]:
    return [m.avgpool, nn.Flatten()]


def convnext_tail(m: nn.Module) -> list[nn.Module]:
    return [m.avgpool, *list(m.classifier)[:-1]]
