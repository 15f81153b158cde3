"""What a pre-trained backbone sees in a photo: its top ImageNet classes, before any transfer."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from workbench.backbones import DEFAULT_BACKBONE, get_backbone


def imagenet_categories() -> list[str]:
    """The 1,000 ImageNet-1k class names, in the order every ImageNet head uses (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def classify(image: np.ndarray, backbone: str = DEFAULT_BACKBONE, k: int = 5) -> list[tuple[str, float]]:
    """Top-k (class, probability) for an RGB uint8 (H, W, 3) image, with the original ImageNet head."""
    spec = get_backbone(backbone)
    model = spec.build(pretrained=True, num_classes=None).eval()
    x = torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1).float()[None] / 255
    x = F.interpolate(x, size=(spec.image_size, spec.image_size), mode="bilinear", antialias=True)
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        probabilities = model(x).softmax(1)[0]
    top = probabilities.topk(k)
    names = imagenet_categories()
    return [(names[i], float(p)) for p, i in zip(top.values, top.indices)]
