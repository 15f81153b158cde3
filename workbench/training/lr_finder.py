"""The learning-rate range test: raise the rate exponentially each step and watch the loss.

The suggestion is the rate where the smoothed loss falls fastest, a common rule of thumb;
the curve itself is what a student should look at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from workbench.data.loading import load_data
from workbench.models.freezing import param_groups
from workbench.spec.config import RunConfig
from workbench.training.build import build_model, resolve_device
from workbench.training.optim import make_optimizer, set_lr_factor
from workbench.training.precision import choose_precision
from workbench.training.step import TrainStep
from workbench.training.train import split_batches

SMOOTHING = 0.8
DIVERGED = 4.0  # stop once the smoothed loss exceeds this multiple of its best


@dataclass
class LRFinderResult:
    lrs: list[float]
    losses: list[float]  # smoothed
    suggested_lr: float


def find_lr(config: RunConfig, start_lr: float = 1e-6, end_lr: float = 1.0, steps: int = 60) -> LRFinderResult:
    """Run the range test on ``config``'s model, data and freezing; nothing is saved."""
    config = replace(config, lr=start_lr).validate()
    device = resolve_device(config.device)
    data = load_data(config)
    model = build_model(config, data.num_classes, device)
    optimizer = make_optimizer(param_groups(model, start_lr, config.lr_backbone_mult, config.layer_decay),
                               config.optimizer, start_lr, config.weight_decay, config.momentum)
    step = TrainStep(model, optimizer, device, choose_precision(config, device).cpu_bf16)
    train = split_batches(config, data, device)["train"]
    generator = torch.Generator().manual_seed(config.seed)
    growth = (end_lr / start_lr) ** (1 / max(steps - 1, 1))
    lrs, losses, smoothed, best = [], [], 0.0, math.inf
    model.train()
    for i in range(steps):
        factor = growth**i
        set_lr_factor(optimizer, factor)
        index = torch.randperm(len(train), generator=generator)[: config.batch_size]
        loss, _ = step(*train.get(index))
        smoothed = SMOOTHING * smoothed + (1 - SMOOTHING) * loss
        value = smoothed / (1 - SMOOTHING ** (i + 1))  # bias-corrected running mean
        lrs.append(start_lr * factor)
        losses.append(value)
        best = min(best, value)
        if not math.isfinite(value) or value > DIVERGED * best:
            break
    return LRFinderResult(lrs, losses, suggest_lr(lrs, losses))


def suggest_lr(lrs: list[float], losses: list[float]) -> float:
    """The rate at the steepest descent of loss against log(lr), before the minimum."""
    if len(losses) < 3:
        return lrs[0]
    stop = int(np.argmin(losses)) + 1
    slopes = np.gradient(np.array(losses[:stop]), np.log(np.array(lrs[:stop]))) if stop >= 2 else np.array([0.0])
    return float(lrs[int(np.argmin(slopes))])
