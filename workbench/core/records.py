"""The run record: a config, one line per finished epoch, and what the run cost.

Plain dataclasses that turn into JSON and back; everything the UIs plot is read from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from workbench.core.metrics import METRICS, machine_busy

RECORD_VERSION = 1


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lrs: dict[str, float]  # learning rate of each optimizer group at the end of the epoch
    epoch_s: float  # wall seconds of this epoch, training and validation
    cum_s: float
    images_seen: int  # training images processed so far
    epoch_flops: int  # training FLOPs of this epoch
    train_flops: int  # cumulative training FLOPs
    trainable_params: int
    total_params: int
    freeze_depth: int  # stages frozen in this epoch (gradual unfreezing lowers it)
    features_cached: bool  # the frozen stages' outputs came from the feature cache, computed once
    peak_mem_bytes: int
    throughput: float  # training images per second of this epoch's steps
    cpu_s: float = 0.0  # CPU seconds this process used in the epoch (all its threads)
    others_cpu_share: float | None = None  # share of all cores other programs used meanwhile (None: unknown)

    @classmethod
    def from_dict(cls, values: dict) -> "EpochRecord":
        """An epoch line, also from records written before the freeze state had one name."""
        values = dict(values)
        if "frozen_stages" in values:
            values["freeze_depth"] = values.pop("frozen_stages")
        if "cached_stages" in values:
            values["features_cached"] = values.pop("cached_stages") > 0
        return cls(**values)


@dataclass
class RunRecord:
    run_id: str
    config: dict
    role: str = "single"  # "transfer", "scratch" or "single"
    comparison_id: str | None = None
    status: str = "running"  # then "completed", "interrupted" (Ctrl-C, Stop) or "failed" (with error)
    error: str | None = None
    created: str = ""
    finished: str | None = None
    classes: list[str] = field(default_factory=list)
    data_sizes: dict[str, int] = field(default_factory=dict)
    data_notes: list[str] = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    speed_notes: list[str] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)
    test_acc: float | None = None
    per_class_acc: list[float] | None = None
    confusion: list[list[int]] | None = None
    fingerprint: str | None = None  # training-relevant config and data (`workbench.experiments.reuse`): equal means same run
    reused_from: str | None = None  # the run whose training this record copies instead of repeating it
    version: int = RECORD_VERSION

    # --- derived numbers ------------------------------------------------------------------

    def reached_target(self, target: float | None = None) -> EpochRecord | None:
        """The first epoch whose validation accuracy reached ``target`` (default: the config's)."""
        target = self.config.get("target_acc", 0.9) if target is None else target
        return next((e for e in self.epochs if e.val_acc >= target), None)

    def summary(self) -> dict:
        """Who the run is, every number of the metrics table, and the per-epoch records."""
        config = self.config
        return {
            "run_id": self.run_id, "role": self.role, "status": self.status, "reused_from": self.reused_from,
            **{key: config.get(key) for key in ("backbone", "pretrained", "freeze_depth", "lr", "seed", "target_acc")},
            **{m.key: m.read(self) for m in METRICS},
            "machine_busy": machine_busy(self),
            "epochs": [asdict(e) for e in self.epochs],
        }

    # --- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["epochs"] = [EpochRecord.from_dict(e) for e in data.get("epochs", [])]
        return cls(**values)
