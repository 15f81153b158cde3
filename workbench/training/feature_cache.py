"""Frozen-prefix activation caching.

When the first k stages are frozen (in eval mode) and the inputs are not randomly augmented,
the output of stage k is a fixed function of each image. Computing it once and training only
the stages after it gives the same numbers as running the whole network every step, for a
fraction of the time. The cache is rebuilt whenever gradual unfreezing changes k.
"""

from __future__ import annotations

import torch

from workbench.data.batches import Batches
from workbench.models.backbones import StagedNet
from workbench.training.cost import FlopMeter

MAX_CACHE_BYTES = 2 * 2**30


class FeatureCache:
    """Each split's outputs of the frozen prefix, kept while the freeze depth stays the same."""

    def __init__(self, enabled: bool, bn_policy: str, augment: bool, batch: int):
        self.enabled, self.bn_policy, self.augment, self.batch = enabled, bn_policy, augment, batch
        self.splits: dict[str, Batches] = {}
        self.note = ""

    def refresh(self, model: StagedNet, images: dict[str, Batches], flops: FlopMeter) -> dict[str, Batches]:
        """What this epoch runs on: the cached features (built again if the freeze depth moved) or the images.

        Building the training split's cache is training work, so its FLOPs go to ``flops``.
        """
        depth = model.freeze_depth
        blocker = cache_blocker(model, self.enabled, self.bn_policy, self.augment)
        if blocker is None and (not self.splits or self.splits["train"].start != depth):
            blocker = too_large(model, images["train"], depth)
            if blocker is None:
                with flops.count():  # the frozen prefix runs once per image here, not once per epoch
                    self.splits = {"train": compute_features(model, images["train"], depth, self.batch)}
                self.splits.update({s: compute_features(model, images[s], depth, self.batch) for s in ("val", "test")})
        if blocker is not None:
            self.splits = {}
        self.note = f"frozen stages 1-{depth} cached" if blocker is None else f"no feature cache: {blocker}"
        return self.splits or images


def cache_blocker(model: StagedNet, enabled: bool, bn_policy: str, augment: bool) -> str | None:
    """Why the frozen prefix cannot be cached right now, or None if it can."""
    if not enabled:
        return "feature cache turned off"
    if model.freeze_depth == 0:
        return "no stage is frozen"
    if bn_policy == "train":
        return "frozen BatchNorm re-estimates its statistics every step (bn_policy=train)"
    if augment:
        return "augmentation gives new inputs every epoch"
    return None


def compute_features(model: StagedNet, data: Batches, depth: int, batch: int) -> Batches:
    """Run every image of ``data`` through the first ``depth`` stages once, ``batch`` images at a time."""
    with torch.no_grad():
        chunks = [model.features(data.get(index)[0], 0, depth) for index in data.in_order(batch)]
    return Batches(torch.cat(chunks), data.labels, data.device, depth)


def too_large(model: StagedNet, data: Batches, depth: int) -> str | None:
    """Why caching ``data`` at ``depth`` would take too much memory (judged from one image), or None."""
    with torch.no_grad():
        x, _ = data.get(torch.arange(1))
        size = model.features(x, 0, depth).numel() * x.element_size() * len(data)
    if size > MAX_CACHE_BYTES:
        return f"the cache would need more than {MAX_CACHE_BYTES / 2**30:.0f} GiB"
    return None
