"""The run record: a config, one line per finished epoch, and what the run cost.

Plain dataclasses that turn into JSON and back; everything the UIs plot is read from here.
`RunRecord.from_dict` checks the shape of what it is given (every field's type, the epochs, the
config's settings, the version) and raises `MalformedRecord`, one line, for the first thing wrong:
a record file edited by hand or damaged is then listed as unreadable, not fed to every reader.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import lru_cache

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
        if "frozen_stages" in values or "cached_stages" in values:
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

_OVERRIDES = {"role": ROLES, "status": STATUSES, "environment": "dict[str, json]", "config": "object"}
# Per dataclass: {field: checker}, the fields without defaults, and for the plain fields the classes a right
# value has (most values of a record pass that test alone: thousands of records are checked on a full read).
_SHAPES: dict[type, tuple[dict, frozenset, dict]] = {}
_CLASSES = {"str": {str}, "int": {int}, "float": {int, float}, "bool": {bool}}
_NOTHING = frozenset()


def _plain(kinds: dict) -> dict[str, frozenset]:
    return {name: frozenset(_CLASSES[kind.removesuffix(" | None")] | ({type(None)} if " | " in kind else set()))
            for name, kind in kinds.items() if isinstance(kind, str) and kind.removesuffix(" | None") in _CLASSES}


def _shape(cls) -> tuple[dict, frozenset, dict]:
    if cls not in _SHAPES:
        overrides = _OVERRIDES if cls is RunRecord else {}
        kinds = {f.name: overrides.get(f.name, f.type) for f in fields(cls)}
        _SHAPES[cls] = ({name: _checker(kind) for name, kind in kinds.items()},
                        frozenset(f.name for f in fields(cls) if _required(f)), _plain(kinds))
    return _SHAPES[cls]


def _suspects(values: dict, plain: dict[str, frozenset]) -> list[str]:
    """The names whose values need a close look: the usual case is decided in two passes over the values (of a
    right class, neither a huge integer nor non-ASCII text); structured fields are always looked at."""
    return [name for name, value in values.items()
            if (kind := value.__class__) not in plain.get(name, _NOTHING)
            or kind is int and not -_INT64 <= value < _INT64 or kind is str and not value.isascii()]


def _check_fields(cls, values: dict, what: str) -> None:
    """Every field of ``cls`` that has no default is in ``values``; none is unknown; each has its type."""
    checkers, required, plain = _shape(cls)
    prefix = "its " if what == "record" else ""
    for name in required - values.keys():
        raise MalformedRecord(f"{prefix}{name} is missing")
    for name in _suspects(values, plain):
        check = checkers.get(name)
        if check is None:
            raise MalformedRecord(f"{name!r} is not a field of an {what}")
        problem = check(values[name], 0)
        if problem:
            raise MalformedRecord(f"{prefix}{name} {problem}")


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _check_config(config: dict) -> None:
    for name in _suspects(config, _CONFIG_PLAIN):
        check = _CONFIG_CHECKERS.get(name)
        if check is None:
            raise MalformedRecord(f"its config has a setting this workbench does not know ({_short(name)})")
        problem = check(config[name], 0)
        if problem:
            raise MalformedRecord(f"its config's {name} {problem}")


_WANTED = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false"}


@lru_cache(maxsize=None)
def _checker(kind):
    """A function (value, depth) -> why ``value`` is not of ``kind`` ("should be a number, not text"), or None.

    Made once per kind: a store of thousands of records checks each on every full read.
    """
    if isinstance(kind, tuple):
        allowed, message = frozenset(kind), f"should be one of {', '.join(kind)}"
        return lambda value, depth: None if isinstance(value, str) and value in allowed else message
    if kind.endswith(" | None"):
        inner = _checker(kind[:-7])
        return lambda value, depth: None if value is None else inner(value, depth)
    if kind.startswith("list[") and kind.endswith("]"):
        item = _checker(kind[5:-1])

        def check_list(value, depth):
            if not isinstance(value, list):
                return f"should be a list, not {_kind(value)}"
            if depth > _MAX_DEPTH:
                return "is nested too deeply"
            for v in value:
                problem = item(v, depth + 1)
                if problem:
                    return problem
            return None
        return check_list
    if kind == "object":  # an object whose values are checked elsewhere (the config: `_check_config`)
        return lambda value, depth: None if isinstance(value, dict) else f"should be an object, not {_kind(value)}"
    if kind == "dict" or kind.startswith("dict[str, ") and kind.endswith("]"):
        item = _checker(kind[10:-1] if kind != "dict" else "json")

        def check_dict(value, depth):
            if not isinstance(value, dict):
                return f"should be an object, not {_kind(value)}"
            if depth > _MAX_DEPTH:
                return "is nested too deeply"
            for k, v in value.items():
                if not _text(k):
                    return "has a key that is not text"
                problem = item(v, depth + 1)
                if problem:
                    return problem
            return None
        return check_dict
    test = {"str": _text, "int": _is_int, "float": _is_number, "bool": lambda v: v is True or v is False}.get(kind)
    message = f"should be {_WANTED.get(kind, 'plain JSON')}, not "
    if test is None:  # "json", or an annotation this does not parse: any plain JSON
        return lambda value, depth: None if _json(value, depth) else message + _kind(value)
    return lambda value, depth: None if test(value) else message + _kind(value)


def _text(value) -> bool:
    """A string that can be written out again (JSON allows lone surrogates; no terminal or page does)."""
    if value.__class__ is not str:
        return isinstance(value, str) and _text(str(value))
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value) -> bool:
    return value.__class__ is int and -_INT64 <= value < _INT64 or \
        isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


def _is_number(value) -> bool:
    return value.__class__ is float or _is_int(value)  # NaN and infinity too: a diverged loss is one


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


_CONFIG_CHECKERS = {name: _checker(kind) for name, kind in CONFIG_FIELDS.items()}
_CONFIG_PLAIN = _plain(CONFIG_FIELDS)
