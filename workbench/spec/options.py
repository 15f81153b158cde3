"""Every user-facing option, described once.

An `Option` says what a person sees (label, help), what the value may be (kind, choices or range)
and where it appears (``faces``). `RunConfig` takes its defaults from here and validates against
it; the command line, the dashboard sidebar and the notebook panel are drawn from it, and a test
checks that the three agree. Adding an option is one entry in `OPTIONS` (and its field).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from workbench.core.errors import ConfigError
from workbench.models.catalogue import BN_POLICIES, DEFAULT_BACKBONE, NORMALIZATIONS, backbone_names

ALL_FACES = ("cli", "dashboard", "widgets")
CLI_ONLY = ("cli",)
LR_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
PRECISIONS = ("auto", "fp32", "bf16")  # what a run may ask for; `workbench.training.precision` decides "auto"
IMAGE_SIZES = (32, 48, 64, 96, 128, 160, 192, 224, 240, 260)


def num_stages(backbone: str) -> int:
    """Stages of ``backbone`` (what freeze depth counts): the registry's answer, the one look-up that needs torch."""
    from workbench.models.backbones import get_backbone

    return get_backbone(backbone).num_stages


def min_image_size(backbone: str) -> int:
    from workbench.models.backbones import get_backbone

    return get_backbone(backbone).min_image_size


@dataclass(frozen=True)
class Option:
    """One setting: its field, how a person sees it, what it may be, and where it is shown.

    ``kind`` is one of: ``choice`` (``choices``), ``int`` and ``float`` (``low``..``high``, either
    open), ``logfloat`` (a positive number best picked on a log scale from ``values``), ``bool``
    and ``text``. ``scope`` says whose field it is: ``run`` (`RunConfig`) or ``comparison``
    (`ComparisonConfig`: the scratch rate and the seeds).
    """

    name: str
    label: str
    kind: str
    default: object
    help: str
    choices: tuple | Callable[[], list] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    values: tuple = ()  # what pickers offer, for kinds whose valid range is wider than a list
    none_means: str | None = None  # None is allowed, and means this (e.g. "all images")
    sweepable: bool = False
    faces: tuple = ALL_FACES
    group: str = "main"  # "main", "finetuning" (discriminative rates, unfreezing) or "training"
    scope: str = "run"
    flag: str | None = None  # the CLI flag where it is not --name-with-dashes

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def options_for(self) -> list:
        """The allowed values of a ``choice`` option (the backbone list is read from the registry)."""
        return list(self.choices() if callable(self.choices) else self.choices)

    def bounds(self, backbone: str = DEFAULT_BACKBONE) -> tuple[float | None, float | None]:
        """The valid range, which for a few options depends on the backbone."""
        if self.name in ("freeze_depth", "init_stages"):
            return 0, num_stages(backbone)
        if self.name == "image_size":
            return min_image_size(backbone), self.high
        return self.low, self.high

    def parse(self, text: str):
        """A value typed as text (a sweep's values, a form field) -> the option's type."""
        if self.name == "seeds":
            return parse_seeds(text)
        try:
            if self.kind == "int":
                return int(text)
            if self.kind in ("float", "logfloat"):
                return float(text)
        except ValueError:
            raise ConfigError(f"{self.label} takes numbers, got {text!r}") from None
        if self.kind == "bool":
            return text.strip().lower() in ("1", "true", "yes", "on")
        return text

    def show(self, value) -> str:
        """A value as a person reads it: '3e-4' for a small rate, 'on' for a flag, the ``none_means`` for None."""
        if value is None:
            return self.none_means or "-"
        if self.kind == "bool":
            return "on" if value else "off"
        if self.kind == "logfloat" and value < 0.01:
            mantissa, exponent = f"{value:.0e}".split("e")
            return f"{mantissa}e{int(exponent)}"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, (list, tuple)):
            return " ".join(map(str, value))
        return str(value)

    def check(self, value, backbone: str = DEFAULT_BACKBONE) -> None:
        """Raise a one-line `ConfigError` if ``value`` cannot work."""
        if value is None and self.none_means is not None:
            return
        if self.kind == "choice":
            allowed = self.options_for()
            if value not in allowed:
                raise ConfigError(f"unknown {self.name} {value!r}; use one of {', '.join(map(str, allowed))}")
            return
        if self.kind not in ("int", "float", "logfloat"):
            return
        low, high = self.bounds(backbone)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
            kind = "a positive number" if self.kind == "logfloat" else "a number"
            raise ConfigError(f"{self.name} must be {kind}, got {value!r}")
        if self.name == "freeze_depth" and not low <= value <= high:
            raise ConfigError(f"freeze depth {value} is out of range; {backbone} has {high} stages, use 0..{high}")
        if self.name == "image_size" and value < low:
            raise ConfigError(f"image size {value} is too small for {backbone}; use at least {low}")
        if self.kind == "logfloat" and value <= 0:
            raise ConfigError(f"{self.name} must be a positive number, got {value}")
        if low is not None and value < low:
            raise ConfigError(f"{self.name} must be at least {low:g}, got {value}")
        if high is not None and value > high:
            raise ConfigError(f"{self.name} must be at most {high:g}, got {value}")


def parse_seeds(text: str) -> list[int]:
    """'0 1 2' or '0,1,2' -> [0, 1, 2], as every interface writes seeds."""
    try:
        seeds = [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise ConfigError(f"seeds must be whole numbers, e.g. 0 1 2; got {text!r}") from None
    if not seeds:
        raise ConfigError("give at least one seed, e.g. 0")
    return seeds


OPTIONS: tuple[Option, ...] = (
    Option("backbone", "backbone", "choice", DEFAULT_BACKBONE, "pre-trained architecture (see `workbench backbones`)",
           choices=backbone_names, sweepable=True),
    Option("freeze_depth", "freeze depth (stages)", "int", 0,
           "freeze the first K stages: 0 fine-tunes everything, the number of stages trains only the new head",
           sweepable=True, flag="--freeze"),
    Option("lr", "learning rate (head)", "logfloat", 1e-3, "learning rate of the new head", low=1e-7, high=10.0,
           values=LR_GRID, sweepable=True),
    Option("scratch_lr", "scratch learning rate", "logfloat", 3e-3, "learning rate of the from-scratch run",
           low=1e-7, high=10.0, values=LR_GRID, scope="comparison"),
    Option("bn_policy", "BatchNorm in frozen stages", "choice", "frozen",
           "frozen keeps the ImageNet statistics; train re-estimates them from every batch; adapt measures "
           "them once on your training images, then keeps them (AdaBN)",
           choices=BN_POLICIES, sweepable=True),
    Option("lr_backbone_mult", "backbone LR multiplier", "logfloat", 1.0,
           "backbone stages learn at the head's rate times this", low=1e-4, high=10.0,
           values=(0.001, 0.01, 0.03, 0.1, 0.3, 1.0), sweepable=True, group="finetuning"),
    Option("layer_decay", "layer-wise decay", "float", 1.0,
           "each earlier stage's rate is multiplied by this once more (discriminative rates)",
           low=0.05, high=1.0, step=0.05, group="finetuning"),
    Option("unfreeze_every", "unfreeze a stage every N epochs", "int", 0,
           "gradual unfreezing: thaw one more frozen stage every N epochs (0 = off)", low=0, high=100,
           group="finetuning"),
    Option("dataset", "dataset", "text", "textures",
           "a built-in dataset, imagefolder:PATH for your own images, or a torchvision set (see `workbench datasets`)"),
    Option("train_per_class", "labels per class", "int", 10,
           "training images kept per class: small numbers simulate small data", low=1, high=10_000,
           none_means="every training image", sweepable=True),
    Option("epochs", "epochs", "int", 15, "passes over the training images", low=1, high=500, sweepable=True),
    Option("image_size", "image size (px)", "int", 64, "images are resized to this square side", high=1024,
           values=IMAGE_SIZES, sweepable=True),
    Option("seeds", "seeds", "text", "0", "several, e.g. '0 1 2', give curves with their mean and spread",
           scope="comparison"),
    Option("batch_size", "batch size", "int", 16, "images per training step", low=1, high=4096, sweepable=True,
           group="training"),
    Option("optimizer", "optimizer", "choice", "adamw", "AdamW, or SGD with Nesterov momentum",
           choices=("adamw", "sgd"), group="training"),
    Option("schedule", "LR schedule", "choice", "cosine", "how the learning rate changes over the run",
           choices=("constant", "cosine", "onecycle"), group="training"),
    Option("weight_decay", "weight decay", "float", 1e-4, "decoupled weight decay (AdamW) or L2 (SGD)",
           low=0.0, high=1.0, step=1e-4, group="training"),
    Option("augment", "augment", "bool", False, "random resized crops and flips of the training images",
           group="training"),
    Option("target_acc", "target accuracy", "float", 0.9, "validation accuracy that counts as reached",
           low=0.01, high=1.0, step=0.01, group="training"),
    Option("split_seed", "split seed", "int", 0, "seed of the train/validation/test split", low=0, high=2**31 - 1,
           group="training"),
    Option("precision", "precision", "choice", "auto",
           "auto: bfloat16 on a CPU that has it natively where a short calibration finds it faster, else fp32; "
           "fp32; bf16 (bfloat16 autocast, emulated and slow on a CPU without it). A CUDA GPU always uses "
           "mixed precision", choices=PRECISIONS, group="training"),
    Option("momentum", "momentum", "float", 0.9, "SGD momentum", low=0.0, high=0.999, step=0.01,
           faces=CLI_ONLY, group="training"),
    Option("device", "device", "choice", "auto", "auto uses a CUDA GPU when one is visible",
           choices=("auto", "cpu", "cuda"), faces=CLI_ONLY),
    Option("cache_features", "feature cache", "bool", True,
           "compute frozen stages once and cache their output (--no-cache recomputes them every step)",
           faces=CLI_ONLY, flag="--no-cache"),
    Option("channels_last", "channels-last layout", "bool", True, "NHWC memory layout (--no-channels-last: NCHW)",
           faces=CLI_ONLY, flag="--no-channels-last"),
    Option("compile", "torch.compile", "bool", False,
           "torch.compile each stage (minutes to compile on a CPU; for GPUs and long runs)", faces=CLI_ONLY),
    Option("init_run", "start from run", "text", None,
           "start from the stages a recorded run learned (saved with --save-checkpoint) instead of ImageNet",
           none_means="ImageNet weights", faces=CLI_ONLY),
    Option("init_stages", "stages copied from that run", "int", None,
           "with --init-run: copy only its first N stages; the later ones start from random weights",
           low=0, none_means="all of them", faces=CLI_ONLY),
    Option("data_dir", "data folder", "text", None, "where downloaded datasets live",
           none_means="$WORKBENCH_DATA or ./data", faces=CLI_ONLY),
    Option("normalization", "input normalisation", "choice", "backbone",
           "backbone: the mean and std its weights were trained with; imagenet: torchvision's ImageNet mean and "
           "std; none: pixels scaled to 0..1 only", choices=NORMALIZATIONS, sweepable=True, faces=CLI_ONLY),
    Option("block_shuffle", "shuffled blocks (px)", "int", 0,
           "cut every image into square blocks this many pixels wide and shuffle them, destroying its layout "
           "(0: off; must divide the image size)", low=0, high=4096, sweepable=True, faces=CLI_ONLY),
)

BY_NAME = {option.name: option for option in OPTIONS}
SWEEPABLE = tuple(option.name for option in OPTIONS if option.sweepable)


def option(name: str) -> Option:
    return BY_NAME[name]


def default(name: str):
    return BY_NAME[name].default


def shown_in(face: str, group: str | None = None) -> list[Option]:
    """The options a face shows, in the spec's order (optionally one group of them)."""
    return [o for o in OPTIONS if face in o.faces and (group is None or o.group == group)]


def sweep_hint(name: str, backbone: str = DEFAULT_BACKBONE) -> str:
    """Example values for a sweep over ``name``, as a person would type them."""
    o = BY_NAME[name]
    if name == "freeze_depth":
        return " ".join(str(d) for d in range(num_stages(backbone) + 1))
    if o.kind == "choice":
        return " ".join(map(str, o.options_for()[:3]))
    if o.values:
        return " ".join(f"{v:g}" for v in o.values[2:6])
    return {"train_per_class": "2 5 10 20", "epochs": "5 10 20", "batch_size": "8 16 32"}.get(name, str(o.default))
