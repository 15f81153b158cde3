"""What a run is asked to do: one plain dataclass, checked before any work starts.

The user-facing fields take their defaults from the option spec (`workbench.spec.options`), and
`validate` checks every one of them against it, so a value is judged the same way whichever
interface it came from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from workbench.core.errors import ConfigError
from workbench.models.catalogue import check_backbone
from workbench.spec.options import OPTIONS, default, option, parse_seeds


@dataclass
class RunConfig:
    """Every choice that shapes one training run."""

    backbone: str = default("backbone")
    pretrained: bool = True
    init_run: str | None = default("init_run")  # start from the stages a recorded run learned, not ImageNet
    init_stages: int | None = default("init_stages")  # of those, only the first n (None: all)
    dataset: str = default("dataset")
    train_per_class: int | None = default("train_per_class")
    image_size: int = default("image_size")
    epochs: int = default("epochs")
    batch_size: int = default("batch_size")
    freeze_depth: int = default("freeze_depth")
    bn_policy: str = default("bn_policy")
    lr: float = default("lr")
    lr_backbone_mult: float = default("lr_backbone_mult")
    layer_decay: float = default("layer_decay")
    unfreeze_every: int = default("unfreeze_every")
    optimizer: str = default("optimizer")
    schedule: str = default("schedule")
    weight_decay: float = default("weight_decay")
    momentum: float = default("momentum")
    augment: bool = default("augment")
    cache_features: bool = default("cache_features")
    channels_last: bool = default("channels_last")  # NHWC: faster for depthwise convolutions and on GPUs
    precision: str = default("precision")  # auto, fp32 or bf16 on a CPU (CUDA always uses mixed precision)
    compile: bool = default("compile")  # torch.compile each stage (slow to start, faster steps on long runs)
    seed: int = 0
    split_seed: int = default("split_seed")
    device: str = default("device")
    target_acc: float = default("target_acc")
    max_eval_per_class: int | None = 100
    data_dir: str | None = default("data_dir")
    normalization: str = default("normalization")
    block_shuffle: int = default("block_shuffle")  # 0: the images as they are

    def validate(self) -> "RunConfig":
        """Raise a one-line `ConfigError` for the first value that cannot work."""
        check_backbone(self.backbone)  # an unknown backbone is named before anything that depends on it
        for option in OPTIONS:
            if option.scope == "run":
                option.check(getattr(self, option.name), self.backbone)
        if self.init_stages is not None and not self.init_run:
            raise ConfigError("init_stages says how many stages to copy from init_run; give init_run too")
        if self.block_shuffle and self.image_size % self.block_shuffle:
            raise ConfigError(f"block_shuffle {self.block_shuffle} does not divide the image size {self.image_size}; "
                              f"use a divisor of it, e.g. {self.image_size // 8 or 1}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """A config from its `to_dict` form; a field it lacks (a record older than the field) takes its default,
        and one it does not know (a record newer than this workbench) is ignored; an old ``cpu_bf16`` flag is read as
        its ``precision`` (on: bf16, off: fp32)."""
        known = {f.name for f in fields(cls)}
        if "cpu_bf16" in values and "precision" not in values:  # a record from before `precision` (a bool flag)
            values = {**values, "precision": "bf16" if values["cpu_bf16"] else "fp32"}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def of(cls, record) -> "RunConfig":
        """The typed settings a `RunRecord` ran with: the way every reader asks a record what it ran."""
        return cls.from_dict(record.config)


@dataclass
class ComparisonConfig:
    """A transfer run and its from-scratch twin, under identical data, splits, epochs and seeds."""

    transfer: RunConfig = field(default_factory=RunConfig)
    scratch_lr: float = default("scratch_lr")
    seeds: list[int] = field(default_factory=lambda: parse_seeds(default("seeds")))

    def validate(self) -> "ComparisonConfig":
        if not self.seeds:
            raise ConfigError("give at least one seed")
        self.transfer.validate()
        option("scratch_lr").check(self.scratch_lr)
        self.scratch(self.seeds[0]).validate()
        return self

    def transfer_run(self, seed: int) -> RunConfig:
        return replace(self.transfer, seed=seed, pretrained=True)

    def scratch(self, seed: int) -> RunConfig:
        """Same architecture, random weights, everything trainable, its own learning rate."""
        return replace(self.transfer, seed=seed, pretrained=False, init_run=None, init_stages=None, freeze_depth=0,
                       lr=self.scratch_lr, lr_backbone_mult=1.0, layer_decay=1.0, unfreeze_every=0)

    def to_dict(self) -> dict:
        return {"transfer": self.transfer.to_dict(), "scratch_lr": self.scratch_lr, "seeds": list(self.seeds)}

    @classmethod
    def from_dict(cls, values: dict) -> "ComparisonConfig":
        """The inverse of `to_dict`: what a worker process or a saved job reads back."""
        return cls(RunConfig.from_dict(values["transfer"]), values["scratch_lr"], list(values["seeds"]))
