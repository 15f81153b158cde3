"""What the option spec needs to know about models, as plain names: no torch, so `workbench --help` is quick.

`backbones.py` registers a builder for each name here, in this order (a test holds the two together).
"""

from workbench.core.errors import ConfigError

BACKBONE_NAMES = (
    "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet18", "resnet50", "vgg11_bn", "vgg16",
    "googlenet", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny",
)
DEFAULT_BACKBONE = "efficientnet_lite0"
NORMALIZATIONS = ("backbone", "imagenet", "none")  # whose mean and std standardise the inputs
BN_POLICIES = ("frozen", "train", "adapt")  # what frozen stages' BatchNorm does: keep, learn, or re-measure


def backbone_names() -> list[str]:
    return list(BACKBONE_NAMES)


def check_backbone(name: str) -> None:
    """A one-line error naming the choices, for a name no builder is registered under."""
    if name not in BACKBONE_NAMES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONE_NAMES)}")
