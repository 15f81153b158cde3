"""A split as the network takes it, one batch at a time: images, or features cached from a frozen prefix.

Both are the same small type, so the training loop does not care which it is given: ``values``
enter the network at stage ``start``. Images are ``uint8`` tensors in memory (``start`` 0)
turned into network input per batch by ``transform``; cached features are plain slices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from workbench.data.augment import random_resized_crop_flip

Transform = Callable[[torch.Tensor, bool], torch.Tensor]
"""(a batch of values already on the device, is it a training batch?) -> network input."""


@dataclass
class Batches:
    """One split: ``values`` (uint8 images or cached features) enter the network at stage ``start``."""

    values: torch.Tensor
    labels: torch.Tensor
    device: torch.device
    start: int = 0
    transform: Transform | None = None  # None: the values are the input (cached features)

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, index: torch.Tensor, train: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs and labels of the items at ``index``; ``train`` asks for augmentation, if any."""
        x = self.values[index].to(self.device, non_blocking=True)
        if self.transform is not None:
            x = self.transform(x, train)
        return x, self.labels[index].to(self.device)

    def in_order(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return torch.arange(len(self)).split(batch_size)

    def shuffled(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """One epoch of shuffled batches; a last batch of one image is dropped (BatchNorm cannot train on it)."""
        batches = torch.randperm(len(self), generator=generator).split(batch_size)
        return batches[:-1] if len(batches) > 1 and len(batches[-1]) == 1 else batches


def image_batches(images: torch.Tensor, labels: torch.Tensor, device: torch.device,
                  preprocess: Callable[[torch.Tensor], torch.Tensor], augment: torch.Generator | None = None,
                  channels_last: bool = False) -> Batches:
    """uint8 images whose batches go through ``preprocess`` (a backbone's), then, for training, random
    crops and flips drawn from ``augment``, then the channels-last layout if asked for."""

    def transform(x: torch.Tensor, train: bool) -> torch.Tensor:
        x = preprocess(x)
        if train and augment is not None:
            x = random_resized_crop_flip(x, augment)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    return Batches(images, labels, device, 0, transform)
