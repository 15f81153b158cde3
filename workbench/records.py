"""The run record: a config, one line per finished epoch, and what the run cost.

Plain dataclasses that turn into JSON and back; everything the UIs plot is read from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

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
    frozen_stages: int
    cached_stages: int  # leading stages whose output came from the feature cache (0: none)
    peak_mem_bytes: int
    throughput: float  # training images per second in this epoch


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
    version: int = RECORD_VERSION

    # --- derived numbers ------------------------------------------------------------------

    def reached_target(self, target: float | None = None) -> EpochRecord | None:
        """The first epoch whose validation accuracy reached ``target`` (default: the config's)."""
        target = self.config.get("target_acc", 0.9) if target is None else target
        return next((e for e in self.epochs if e.val_acc >= target), None)

    def summary(self) -> dict:
        """The numbers a side-by-side table shows, plus the per-epoch records."""
        last = self.epochs[-1] if self.epochs else None
        hit = self.reached_target()
        return {
            "run_id": self.run_id,
            "role": self.role,
            "status": self.status,
            "backbone": self.config.get("backbone"),
            "pretrained": self.config.get("pretrained"),
            "freeze_depth": self.config.get("freeze_depth"),
            "lr": self.config.get("lr"),
            "seed": self.config.get("seed"),
            "best_val_acc": max((e.val_acc for e in self.epochs), default=None),
            "final_val_acc": last.val_acc if last else None,
            "test_acc": self.test_acc,
            "wall_s": last.cum_s if last else 0.0,
            "train_flops": last.train_flops if last else 0,
            "trainable_params": last.trainable_params if last else None,
            "total_params": last.total_params if last else None,
            "peak_mem_bytes": max((e.peak_mem_bytes for e in self.epochs), default=None),
            "throughput": (sum(e.throughput for e in self.epochs) / len(self.epochs)) if self.epochs else None,
            "target_acc": self.config.get("target_acc"),
            "time_to_target_s": hit.cum_s if hit else None,
            "flops_to_target": hit.train_flops if hit else None,
            "epochs_to_target": hit.epoch if hit else None,
            "epochs": [asdict(e) for e in self.epochs],
        }

    # --- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["epochs"] = [EpochRecord(**e) for e in data.get("epochs", [])]
        return cls(**values)
