"""Freezing, BatchNorm policy, layer-wise learning rates and gradual unfreezing.

Small verbs over a `StagedNet`'s stages, each named for what a teacher would say:
freeze these stages, make those trainable, give earlier stages smaller learning rates,
unfreeze one more stage. The BatchNorm question is answered explicitly by ``bn_policy``:

* ``"frozen"`` (default): a frozen stage is a fixed function. It stays in eval mode even after
  ``model.train()``: BatchNorm keeps its running statistics, dropout and stochastic depth are
  off. (That is also what makes its output cacheable.)
* ``"train"``: frozen stages follow ``model.train()`` like every other layer, so BatchNorm keeps
  re-estimating its statistics from the new data, as the classic tutorial code does.
* ``"adapt"`` (AdaBN): as ``"frozen"``, but before training the frozen stages' BatchNorm statistics
  are measured once on the target's training images (`workbench.training.adabn`).
"""

from __future__ import annotations

import types
from typing import Iterable

import torch
from torch import nn

from workbench.core.errors import ConfigError
from workbench.models.backbones import StagedNet
from workbench.models.catalogue import BN_POLICIES


def _stay_in_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    """Replacement ``train`` for a pinned module: it and everything in it stay in eval mode."""
    return nn.Module.train(self, False)


def freeze(modules: Iterable[nn.Module], train_bn: bool = False) -> None:
    """Stop gradients; unless ``train_bn``, pin the modules in eval mode (BatchNorm included)."""
    for module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        if not train_bn:
            module.train = types.MethodType(_stay_in_eval, module)
            module.eval()


def make_trainable(modules: Iterable[nn.Module]) -> None:
    """Let gradients flow again and release anything pinned in eval mode."""
    for module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(True)
        for layer in module.modules():
            if "train" in vars(layer):
                del layer.train


def is_pinned(layer: nn.Module) -> bool:
    return "train" in vars(layer)


def set_freeze_depth(model: StagedNet, depth: int, bn_policy: str = "frozen") -> None:
    """Freeze the first ``depth`` stages; everything after them, and the head, trains.

    ``depth = 0`` fine-tunes everything; ``depth = len(stages)`` is feature extraction
    (a linear probe: only the new head learns). `RunConfig.validate` has checked the range.
    The model keeps the depth as ``model.freeze_depth``.
    """
    if bn_policy not in BN_POLICIES:
        raise ConfigError(f"unknown bn_policy {bn_policy!r}; use one of {', '.join(BN_POLICIES)}")
    stages = model.stage_list()
    make_trainable(stages[depth:] + [model.head])
    freeze(stages[:depth], train_bn=bn_policy == "train")
    model.freeze_depth = depth


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def stage_lr(lr: float, stage_index: int, num_stages: int, backbone_mult: float, layer_decay: float) -> float:
    """Discriminative learning rate: the head gets ``lr``; stage i gets
    ``lr * backbone_mult * layer_decay ** (num_stages - 1 - i)``, so earlier stages move less."""
    return lr * backbone_mult * layer_decay ** (num_stages - 1 - stage_index)


def param_groups(model: StagedNet, lr: float, backbone_mult: float = 1.0, layer_decay: float = 1.0) -> list[dict]:
    """One optimizer group per trainable stage, plus the head; frozen parameters are left out."""
    groups = []
    names = list(model.stages)
    for index, stage in enumerate(model.stage_list()):
        params = [p for p in stage.parameters() if p.requires_grad]
        if params:
            groups.append({"name": names[index], "params": params,
                           "lr": stage_lr(lr, index, len(names), backbone_mult, layer_decay)})
    groups.append({"name": "head", "params": list(model.head.parameters()), "lr": lr})
    return groups


def unfreeze_stage(model: StagedNet, optimizer: torch.optim.Optimizer, lr: float,
                   backbone_mult: float = 1.0, layer_decay: float = 1.0) -> str | None:
    """Gradual unfreezing: make the deepest frozen stage trainable and give it an optimizer group.

    Returns the stage's name, or None if nothing was frozen.
    """
    depth = model.freeze_depth
    if depth == 0:
        return None
    index = depth - 1
    name = list(model.stages)[index]
    stage = model.stage_list()[index]
    make_trainable([stage])
    model.freeze_depth = index
    rate = stage_lr(lr, index, len(model.stages), backbone_mult, layer_decay)
    optimizer.add_param_group({"name": name, "params": list(stage.parameters()), "lr": rate, "base_lr": rate})
    return name


def unfreeze_to(model: StagedNet, depth: int, optimizer: torch.optim.Optimizer, lr: float,
                backbone_mult: float = 1.0, layer_decay: float = 1.0) -> None:
    """Thaw stages from the top down, each as a new optimizer group, until ``depth`` stay frozen."""
    while model.freeze_depth > depth:
        unfreeze_stage(model, optimizer, lr, backbone_mult, layer_decay)


def frozen_depth_at(epoch: int, start_depth: int, unfreeze_every: int) -> int:
    """The freeze depth in (0-based) ``epoch`` when one more stage thaws every ``unfreeze_every`` epochs."""
    if unfreeze_every <= 0:
        return start_depth
    return max(0, start_depth - epoch // unfreeze_every)
