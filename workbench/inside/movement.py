"""What moved: how far training carried each stage's weights from where they started.

The distance is relative, ||w - w0|| / ||w0|| over all of a stage's parameters, so stages of
different sizes compare. A fine-tuned network usually moves its early stages least; the
scratch network moves everything. The view shows what the runs really did.
"""

from __future__ import annotations

import torch
from torch import nn

from workbench.inside.networks import ROLES, Networks
from workbench.models.backbones import StagedNet


def _parts(model: StagedNet) -> dict[str, nn.Module]:
    return {**dict(model.stages.items()), "head": model.head}


def _flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().float().flatten() for p in module.parameters()])


def stage_movement(start: StagedNet, trained: StagedNet) -> dict[str, float]:
    """Relative L2 distance of each stage's parameters (and the head's) from their starting values."""
    moved = {}
    for (name, before), after in zip(_parts(start).items(), _parts(trained).values()):
        if any(True for _ in before.parameters()):
            w0 = _flat(before)
            moved[name] = float((_flat(after) - w0).norm() / w0.norm().clamp_min(1e-12))
    return moved


def what_moved(networks: Networks) -> dict[str, dict[str, float]]:
    """{role: {stage: relative movement}} for the transfer run and the scratch run."""
    return {role: stage_movement(networks.start[role], networks.trained[role]) for role in ROLES}


def describe(moved: dict[str, dict[str, float]]) -> list[str]:
    stages = list(next(iter(moved.values())))
    lines = [f"{'moved (relative L2)':22}" + "".join(f"{role:>10}" for role in moved)]
    lines += [f"{stage:22}" + "".join(f"{moved[role][stage]:>10.4f}" for role in moved) for stage in stages]
    return lines
