"""What a pre-trained backbone sees in a photo: its top ImageNet classes, before any transfer.

`sample_photos` gives real photos to try it on, from what scikit-learn and scikit-image install.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workbench.models.backbones import DEFAULT_BACKBONE, get_backbone


def imagenet_categories() -> list[str]:
    """The 1,000 ImageNet-1k class names, in the order every ImageNet head uses (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def classify(image: np.ndarray, backbone: str = DEFAULT_BACKBONE, k: int = 5) -> list[tuple[str, float]]:
    """Top-k (class, probability) for an RGB uint8 (H, W, 3) image, with the original ImageNet head."""
    spec = get_backbone(backbone)
    model = spec.build(pretrained=True, num_classes=None).eval()
    x = spec.preprocess(torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1)[None])
    x = F.interpolate(x, size=(spec.image_size, spec.image_size), mode="bilinear", antialias=True)
    with torch.no_grad():
        probabilities = model(x).softmax(1)[0]
    top = probabilities.topk(k)
    names = imagenet_categories()
    return [(names[i], float(p)) for p, i in zip(top.values, top.indices)]


SKIMAGE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def sample_photos() -> dict[str, np.ndarray]:
    """Real RGB photos installed with scikit-learn (china, flower) and scikit-image (a cat, a coffee
    cup, an astronaut, a rocket), as uint8 (H, W, 3): something to predict on, offline."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    bundled = load_sample_images()
    photos = {Path(path).stem: image for path, image in zip(bundled.filenames, bundled.images)}
    photos.update({name: getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS})
    return photos
