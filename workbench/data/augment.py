"""Augmentation on whole batches of tensors: no per-image Python, no PIL.

Each image still gets its own random crop and flip; ``roi_align`` cuts and resizes all the
crops of a batch in one call.
"""

from __future__ import annotations

import math

import torch
from torchvision.ops import roi_align

SCALE = (0.35, 1.0)
RATIO = (3 / 4, 4 / 3)


def random_resized_crop_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Float (N, C, H, W) -> same shape, each image cropped at a random scale/aspect and maybe flipped."""
    n, _, h, w = images.shape
    area = torch.empty(n).uniform_(*SCALE, generator=generator) * h * w
    log_ratio = torch.empty(n).uniform_(math.log(RATIO[0]), math.log(RATIO[1]), generator=generator)
    ratio = torch.exp(log_ratio)
    crop_w = torch.sqrt(area * ratio).clamp(max=w)
    crop_h = torch.sqrt(area / ratio).clamp(max=h)
    left = torch.rand(n, generator=generator) * (w - crop_w)
    top = torch.rand(n, generator=generator) * (h - crop_h)
    boxes = torch.stack([torch.arange(n, dtype=torch.float), left, top, left + crop_w, top + crop_h], dim=1)
    crops = roi_align(images, boxes.to(images.device, images.dtype), output_size=(h, w), aligned=True)
    flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], crops.flip(-1), crops)
