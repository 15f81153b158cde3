"""The run record: a config, one line per finished epoch, and what the run cost.

Plain dataclasses that turn into JSON and back; everything the UIs plot is read from here.
`RunRecord.from_dict` checks the shape of what it is given (every field's type, the epochs, the
config's settings, the version) and raises `MalformedRecord`, one line, for the first thing wrong:
a record file edited by hand or damaged is then listed as unreadable, not fed to every reader.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields

from workbench.core.errors import RunStoreError
from workbench.core.metrics import METRICS, machine_busy

RECORD_VERSION = 1
KNOWN_VERSIONS = (1,)
ROLES = ("transfer", "scratch", "single")
STATUSES = ("running", "completed", "interrupted", "failed")
# `RunConfig`'s fields and their annotations (a test holds the two equal): core cannot import the spec.
CONFIG_FIELDS = {
    "backbone": "str", "pretrained": "bool", "init_run": "str | None", "init_stages": "int | None",
    "dataset": "str", "train_per_class": "int | None", "image_size": "int", "epochs": "int", "batch_size": "int",
    "freeze_depth": "int", "bn_policy": "str", "lr": "float", "lr_backbone_mult": "float", "layer_decay": "float",
    "unfreeze_every": "int", "optimizer": "str", "schedule": "str", "weight_decay": "float", "momentum": "float",
    "augment": "bool", "cache_features": "bool", "channels_last": "bool", "cpu_bf16": "bool", "compile": "bool",
    "seed": "int", "split_seed": "int", "device": "str", "target_acc": "float", "max_eval_per_class": "int | None",
    "data_dir": "str | None", "normalization": "str", "block_shuffle": "int",
}
_MAX_DEPTH = 32  # nesting of the free-form `environment`
_INT64 = 2**63  # SQLite's integers (the index stores a few of these numbers)


class MalformedRecord(RunStoreError):
    """A record that is valid JSON of the wrong shape; the message says what is wrong, in one line."""


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
            cached = values.pop("cached_stages")
            values["features_cached"] = cached > 0 if _is_number(cached) else cached
        _check_fields(cls, values, "epoch")
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
            "epochs": [asdict(e) for e in self.epochs],
        }

    # --- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        """The record in ``data``, or `MalformedRecord` naming the first field of the wrong shape.

        Fields it does not know are left out (none are written today); every known one is checked.
        """
        if not isinstance(data, dict):
            raise MalformedRecord(f"it holds {_kind(data)}, not a run record")
        version = data.get("version", RECORD_VERSION)
        if _is_int(version) and version > RECORD_VERSION:
            raise MalformedRecord(f"it was recorded by a newer workbench (record version {version}); upgrade to read it")
        if not _is_int(version) or version not in KNOWN_VERSIONS:
            raise MalformedRecord(f"its version {_short(version)} is not one this workbench knows "
                                  f"({', '.join(map(str, KNOWN_VERSIONS))})")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        epochs = values.get("epochs", [])
        _check_fields(cls, {k: v for k, v in values.items() if k != "epochs"}, "record")
        _check_config(values["config"])
        if not isinstance(epochs, list):
            raise MalformedRecord(f"its epochs are {_kind(epochs)}, not a list")
        parsed = []
        for number, epoch in enumerate(epochs, start=1):
            if not isinstance(epoch, dict):
                raise MalformedRecord(f"its epoch {number} is {_kind(epoch)}, not an object")
            try:
                parsed.append(EpochRecord.from_dict(epoch))
            except MalformedRecord as exc:
                raise MalformedRecord(f"its epoch {number}: {exc}") from None
        values["epochs"] = parsed
        return cls(**values)


# --- the shape of a record ------------------------------------------------------------------------
# Each field's type is read from its annotation ("int", "str | None", "list[float]", "dict[str, int]"...), so a
# field added to the dataclasses is checked too; an int is a float as well, and an annotation this does not
# parse takes any plain JSON. A few fields say more than their annotation: the choices of the role and status,
# the settings of the config (`CONFIG_FIELDS`), the free-form environment.

_OVERRIDES = {"role": ROLES, "status": STATUSES, "environment": "dict[str, json]", "config": "dict[str, json]"}


def _kinds(cls) -> dict[str, object]:
    return {f.name: _OVERRIDES.get(f.name, f.type) if cls is RunRecord else f.type for f in fields(cls)}


def _check_fields(cls, values: dict, what: str) -> None:
    """Every field of ``cls`` that has no default is in ``values``; none is unknown; each has its type."""
    kinds = _kinds(cls)
    for f in fields(cls):
        if f.name not in values and _required(f):
            raise MalformedRecord(f"its {f.name} is missing" if what == "record" else f"{f.name} is missing")
    for name, value in values.items():
        if name not in kinds:
            raise MalformedRecord(f"{name!r} is not a field of an {what}")
        problem = _problem(value, kinds[name], 0)
        if problem:
            raise MalformedRecord(f"its {name} {problem}" if what == "record" else f"{name} {problem}")


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _check_config(config: dict) -> None:
    for name, value in config.items():
        if name not in CONFIG_FIELDS:
            raise MalformedRecord(f"its config has a setting this workbench does not know ({_short(name)})")
        problem = _problem(value, CONFIG_FIELDS[name], 0)
        if problem:
            raise MalformedRecord(f"its config's {name} {problem}")


def _problem(value, kind, depth: int) -> str | None:
    """Why ``value`` is not of ``kind`` ("should be a number, not text"), or None when it is."""
    if isinstance(kind, tuple):
        return None if isinstance(value, str) and value in kind else f"should be one of {', '.join(kind)}"
    if kind.endswith(" | None"):
        return None if value is None else _problem(value, kind[:-7], depth)
    if depth > _MAX_DEPTH:
        return "is nested too deeply"
    if kind.startswith("list[") and kind.endswith("]"):
        if not isinstance(value, list):
            return f"should be a list, not {_kind(value)}"
        return next((p for p in (_problem(v, kind[5:-1], depth + 1) for v in value) if p), None)
    if kind == "dict" or kind.startswith("dict[str, ") and kind.endswith("]"):
        if not isinstance(value, dict):
            return f"should be an object, not {_kind(value)}"
        if any(not _text(k) for k in value):
            return "has a key that is not text"
        inner = kind[10:-1] if kind != "dict" else "json"
        return next((p for p in (_problem(v, inner, depth + 1) for v in value.values()) if p), None)
    check = {"str": _text, "int": _is_int, "float": _is_number, "bool": lambda v: isinstance(v, bool)}
    ok = check.get(kind, lambda v: _json(v, depth))(value)
    if ok:
        return None
    wanted = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false"}.get(kind, "plain JSON")
    return f"should be {wanted}, not {_kind(value)}"


def _text(value) -> bool:
    """A string that can be written out again (JSON allows lone surrogates; no terminal or page does)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


def _is_number(value) -> bool:
    return _is_int(value) or isinstance(value, float)  # NaN and infinity too: a diverged loss is one


def _json(value, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_text(k) and _json(v, depth + 1) for k, v in value.items())
    return value is None or isinstance(value, (bool, float)) or _is_int(value) or _text(value)


def _kind(value) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, int):
        return "a whole number" if -_INT64 <= value < _INT64 else "a number too large"
    return {str: "text", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _short(value) -> str:
    text = repr(value) if _json(value, _MAX_DEPTH - 1) else _kind(value)
    return text if len(text) <= 40 else text[:37] + "..."
