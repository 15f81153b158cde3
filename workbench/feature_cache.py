"""Frozen-prefix activation caching.

When the first k stages are frozen (in eval mode) and the inputs are not randomly augmented,
the output of stage k is a fixed function of each image. Computing it once and training only
the stages after it gives the same numbers as running the whole network every step, for a
fraction of the time. The cache is rebuilt whenever gradual unfreezing changes k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.backbones import StagedNet

MAX_CACHE_BYTES = 2 * 2**30
CACHE_BATCH = 128


@dataclass
class Features:
    """Cached outputs of the frozen prefix; batches enter the network at stage ``start``."""

    values: torch.Tensor
    labels: torch.Tensor
    start: int

    @property
    def device(self) -> torch.device:
        return self.values.device

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, index: torch.Tensor, augment: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.values[index], self.labels[index].to(self.values.device)


def cache_blocker(model: StagedNet, enabled: bool, bn_policy: str, augment: bool) -> str | None:
    """Why the frozen prefix cannot be cached right now, or None if it can."""
    if not enabled:
        return "feature cache turned off"
    if model.no_grad_prefix == 0:
        return "no stage is frozen"
    if bn_policy == "train":
        return "frozen BatchNorm re-estimates its statistics every step (bn_policy=train)"
    if augment:
        return "augmentation gives new inputs every epoch"
    return None


def compute_features(model: StagedNet, data, depth: int) -> Features:
    """Run every image of ``data`` (a `train.Batches`) through the first ``depth`` stages once."""
    chunks = []
    with torch.no_grad():
        for index in torch.arange(len(data)).split(CACHE_BATCH):
            x, _ = data.get(index)
            chunks.append(model.features(x, 0, depth))
    return Features(torch.cat(chunks), data.labels, depth)


def too_large(model: StagedNet, data, depth: int) -> str | None:
    """Why caching ``data`` at ``depth`` would take too much memory (judged from one image), or None."""
    with torch.no_grad():
        x, _ = data.get(torch.arange(1))
        size = model.features(x, 0, depth).numel() * x.element_size() * len(data)
    if size > MAX_CACHE_BYTES:
        return f"the cache would need more than {MAX_CACHE_BYTES / 2**30:.0f} GiB"
    return None
