"""What a run is asked to do: one plain dataclass, checked before any work starts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from workbench.backbones import DEFAULT_BACKBONE, get_backbone
from workbench.errors import ConfigError
from workbench.freezing import BN_POLICIES

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda")

# The default comparison: offline, about a minute on 2 CPU cores, and a fair showing of what
# transfer buys on small data (numbers in the README, measured with `workbench compare`).
DEFAULT_DATASET = "textures"
DEFAULT_TRAIN_PER_CLASS = 10
DEFAULT_IMAGE_SIZE = 64
DEFAULT_EPOCHS = 15


@dataclass
class RunConfig:
    """Every choice that shapes one training run."""

    backbone: str = DEFAULT_BACKBONE
    pretrained: bool = True
    init_run: str | None = None  # start from the backbone stages a recorded run learned, not ImageNet
    dataset: str = DEFAULT_DATASET
    train_per_class: int | None = DEFAULT_TRAIN_PER_CLASS
    image_size: int = DEFAULT_IMAGE_SIZE
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 16
    freeze_depth: int = 0
    bn_policy: str = "frozen"
    lr: float = 1e-3
    lr_backbone_mult: float = 1.0
    layer_decay: float = 1.0
    unfreeze_every: int = 0
    optimizer: str = "adamw"
    schedule: str = "cosine"
    weight_decay: float = 1e-4
    momentum: float = 0.9
    augment: bool = False
    cache_features: bool = True
    channels_last: bool = True  # NHWC memory layout: faster for depthwise convolutions and on GPUs
    cpu_bf16: bool = False  # bfloat16 autocast on the CPU (CUDA always uses mixed precision)
    compile: bool = False  # torch.compile each stage (slow to start, faster steps on long runs)
    seed: int = 0
    split_seed: int = 0
    device: str = "auto"
    target_acc: float = 0.9
    max_eval_per_class: int | None = 100
    data_dir: str | None = None

    def validate(self) -> "RunConfig":
        """Raise a one-line `ConfigError` for the first value that cannot work."""
        backbone = get_backbone(self.backbone)
        for name in ("lr", "lr_backbone_mult", "layer_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or math.isnan(value) or value <= 0 or math.isinf(value):
                raise ConfigError(f"{name} must be a positive number, got {value}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.weight_decay < 0 or math.isnan(self.weight_decay):
            raise ConfigError(f"weight_decay must be zero or positive, got {self.weight_decay}")
        if self.train_per_class is not None and self.train_per_class <= 0:
            raise ConfigError(f"train_per_class must be at least 1, got {self.train_per_class}")
        if self.image_size < backbone.min_image_size:
            raise ConfigError(
                f"image size {self.image_size} is too small for {self.backbone}; use at least {backbone.min_image_size}"
            )
        if not 0 <= self.freeze_depth <= backbone.num_stages:
            raise ConfigError(
                f"freeze depth {self.freeze_depth} is out of range; {self.backbone} has "
                f"{backbone.num_stages} stages, use 0..{backbone.num_stages}"
            )
        if self.unfreeze_every < 0:
            raise ConfigError(f"unfreeze_every must be 0 (off) or positive, got {self.unfreeze_every}")
        for name, allowed in (("bn_policy", BN_POLICIES), ("optimizer", OPTIMIZERS),
                              ("schedule", SCHEDULES), ("device", DEVICES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"unknown {name} {getattr(self, name)!r}; use one of {', '.join(allowed)}")
        if not 0 < self.target_acc <= 1:
            raise ConfigError(f"target accuracy must be in (0, 1], got {self.target_acc}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def parse_seeds(text: str) -> list[int]:
    """'0 1 2' or '0,1,2' -> [0, 1, 2], as every interface writes seeds."""
    try:
        seeds = [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise ConfigError(f"seeds must be whole numbers, e.g. 0 1 2; got {text!r}") from None
    if not seeds:
        raise ConfigError("give at least one seed, e.g. 0")
    return seeds


@dataclass
class ComparisonConfig:
    """A transfer run and its from-scratch twin, under identical data, splits, epochs and seeds."""

    transfer: RunConfig = field(default_factory=RunConfig)
    scratch_lr: float = 3e-3
    seeds: list[int] = field(default_factory=lambda: [0])

    def validate(self) -> "ComparisonConfig":
        self.transfer.validate()
        self.scratch(self.seeds[0] if self.seeds else 0).validate()
        if not self.seeds:
            raise ConfigError("give at least one seed")
        return self

    def transfer_run(self, seed: int) -> RunConfig:
        return replace(self.transfer, seed=seed, pretrained=True)

    def scratch(self, seed: int) -> RunConfig:
        """Same architecture, random weights, everything trainable, its own learning rate."""
        return replace(self.transfer, seed=seed, pretrained=False, init_run=None, freeze_depth=0, lr=self.scratch_lr,
                       lr_backbone_mult=1.0, layer_decay=1.0, unfreeze_every=0)

    def to_dict(self) -> dict:
        return {"transfer": self.transfer.to_dict(), "scratch_lr": self.scratch_lr, "seeds": list(self.seeds)}
