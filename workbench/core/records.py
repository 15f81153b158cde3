"""The run record: a config, one line per finished epoch, and what the run cost.

Plain dataclasses that turn into JSON and back; everything the UIs plot is read from here.
`RunRecord.from_dict` checks the shape of what it is given (every field's type, the epochs, the
config's settings, the version) and raises `MalformedRecord`, one line, for the first thing wrong:
a record file edited by hand or damaged is then listed as unreadable, not fed to every reader.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from workbench.core.metrics import METRICS, machine_busy
from workbench.core.record_checks import (  # noqa: F401 - CONFIG_FIELDS, ROLES, STATUSES: re-exported
    CONFIG_FIELDS,
    RECORD_OVERRIDES,
    ROLES,
    STATUSES,
    MalformedRecord,
    check_config,
    check_fields,
    is_int,
    is_number,
    kind_of,
    short,
)

RECORD_VERSION = 1
KNOWN_VERSIONS = (1,)


def _text_or_none(value) -> str | None:
    return value if isinstance(value, str) else None


def _number_or_none(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


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
        if "frozen_stages" in values or "cached_stages" in values:
            values = dict(values)
            if "frozen_stages" in values:
                values["freeze_depth"] = values.pop("frozen_stages")
            if "cached_stages" in values:
                cached = values.pop("cached_stages")
                values["features_cached"] = cached > 0 if is_number(cached) else cached
        check_fields(cls, values, "epoch")
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
    # The process writing the record while it runs (`RunStore.save`): a dead one will never finish it. Who wrote
    # a record is not what it records, so two records equal but for these compare equal.
    pid: int | None = field(default=None, compare=False)
    host: str | None = field(default=None, compare=False)

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
            "estimated_s": _number_or_none(self.environment.get("estimated_s")),  # what the estimate said before it ran
            "precision": self.precision(), "precision_reason": _text_or_none(self.environment.get("precision_reason")),
            "epochs": [asdict(e) for e in self.epochs],
        }

    def precision(self) -> str | None:
        """The precision it trained in: fp32, bf16 or mixed (CUDA); from a record older than the word, what its
        ``mixed_precision`` said; None where nothing says."""
        named = self.environment.get("precision")
        if isinstance(named, str):
            return named
        old = self.environment.get("mixed_precision")
        return {"cuda-amp": "mixed", "cpu-bf16": "bf16", "off": "fp32"}.get(old) if isinstance(old, str) else None

    # --- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        """The record in ``data``, or `MalformedRecord` naming the first field of the wrong shape.

        Fields it does not know are left out (none are written today); every known one is checked.
        """
        if not isinstance(data, dict):
            raise MalformedRecord(f"it holds {kind_of(data)}, not a run record")
        version = data.get("version", RECORD_VERSION)
        if is_int(version) and version > RECORD_VERSION:
            raise MalformedRecord(f"it was recorded by a newer workbench (record version {version}); upgrade to read it")
        if not is_int(version) or version not in KNOWN_VERSIONS:
            raise MalformedRecord(f"its version {short(version)} is not one this workbench knows "
                                  f"({', '.join(map(str, KNOWN_VERSIONS))})")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        epochs = values.get("epochs", [])
        check_fields(cls, {k: v for k, v in values.items() if k != "epochs"}, "record", RECORD_OVERRIDES)
        check_config(values["config"])
        if not isinstance(epochs, list):
            raise MalformedRecord(f"its epochs are {kind_of(epochs)}, not a list")
        parsed = []
        for number, epoch in enumerate(epochs, start=1):
            if not isinstance(epoch, dict):
                raise MalformedRecord(f"its epoch {number} is {kind_of(epoch)}, not an object")
            try:
                parsed.append(EpochRecord.from_dict(epoch))
            except MalformedRecord as exc:
                raise MalformedRecord(f"its epoch {number}: {exc}") from None
        values["epochs"] = parsed
        return cls(**values)
