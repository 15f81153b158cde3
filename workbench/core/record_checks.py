"""The shape a run record must have, checked field by field as it is read: a record edited by hand or damaged
is listed as unreadable with its reason (one line) instead of reaching every reader.

Each field's type is read from its dataclass annotation, so a field added to `records` is checked too.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from functools import lru_cache

from workbench.core.errors import RunStoreError

ROLES = ("transfer", "scratch", "single")
STATUSES = ("running", "completed", "interrupted", "failed")
# `RunConfig`'s fields and their annotations (a test holds the two equal): core cannot import the spec.
CONFIG_FIELDS = {
    "backbone": "str", "pretrained": "bool", "init_run": "str | None", "init_stages": "int | None",
    "dataset": "str", "train_per_class": "int | None", "image_size": "int", "epochs": "int", "batch_size": "int",
    "freeze_depth": "int", "bn_policy": "str", "lr": "float", "lr_backbone_mult": "float", "layer_decay": "float",
    "unfreeze_every": "int", "optimizer": "str", "schedule": "str", "weight_decay": "float", "momentum": "float",
    "augment": "bool", "cache_features": "bool", "channels_last": "bool", "precision": "str", "compile": "bool",
    "seed": "int", "split_seed": "int", "device": "str", "target_acc": "float", "max_eval_per_class": "int | None",
    "data_dir": "str | None", "normalization": "str", "block_shuffle": "int",
}
# Settings older records hold that `RunConfig.from_dict` reads into today's ones (cpu_bf16: now `precision`).
OLD_CONFIG_FIELDS = {"cpu_bf16": "bool"}
_MAX_DEPTH = 32  # nesting of the free-form `environment`
_INT64 = 2**63  # SQLite's integers (the index stores a few of these numbers)


class MalformedRecord(RunStoreError):
    """A record that is valid JSON of the wrong shape; the message says what is wrong, in one line."""

# Each field's type is read from its annotation ("int", "str | None", "list[float]", "dict[str, int]"...), so a
# field added to the dataclasses is checked too; an int is a float as well, and an annotation this does not
# parse takes any plain JSON. A few fields say more than their annotation: the choices of the role and status,
# the settings of the config (`CONFIG_FIELDS`), the free-form environment.

RECORD_OVERRIDES = {"role": ROLES, "status": STATUSES, "environment": "dict[str, json]", "config": "object"}
# Per dataclass: {field: checker}, the fields without defaults, and for the plain fields the classes a right
# value has (most values of a record pass that test alone: thousands of records are checked on a full read).
_SHAPES: dict[type, tuple[dict, frozenset, dict]] = {}
_CLASSES = {"str": {str}, "int": {int}, "float": {int, float}, "bool": {bool}}
_NOTHING = frozenset()


def _plain(kinds: dict) -> dict[str, frozenset]:
    return {name: frozenset(_CLASSES[kind.removesuffix(" | None")] | ({type(None)} if " | " in kind else set()))
            for name, kind in kinds.items() if isinstance(kind, str) and kind.removesuffix(" | None") in _CLASSES}


def _shape(cls, overrides: dict) -> tuple[dict, frozenset, dict]:
    if cls not in _SHAPES:
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


def check_fields(cls, values: dict, what: str, overrides: dict | None = None) -> None:
    """Every field of ``cls`` that has no default is in ``values``; none is unknown; each has its type."""
    checkers, required, plain = _shape(cls, overrides or {})
    prefix = "its " if what == "record" else ""
    for name in required - values.keys():
        raise MalformedRecord(f"{prefix}{name} is missing")
    _check_each(values, plain, checkers, lambda name: f"{name!r} is not a field of an {what}",
                lambda name: f"{prefix}{name}")


def _check_each(values: dict, plain: dict, checkers: dict, unknown, called) -> None:
    """Each value not plainly of its type checked by its field's checker; an unknown name is ``unknown(name)``."""
    for name in _suspects(values, plain):
        check = checkers.get(name)
        if check is None:
            raise MalformedRecord(unknown(name))
        problem = check(values[name], 0)
        if problem:
            raise MalformedRecord(f"{called(name)} {problem}")


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def check_config(config: dict) -> None:
    _check_each(config, _CONFIG_PLAIN, _CONFIG_CHECKERS,
                lambda name: f"its config has a setting this workbench does not know ({short(name)})",
                lambda name: f"its config's {name}")


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
                return f"should be a list, not {kind_of(value)}"
            if depth > _MAX_DEPTH:
                return "is nested too deeply"
            for v in value:
                problem = item(v, depth + 1)
                if problem:
                    return problem
            return None
        return check_list
    if kind == "object":  # an object whose values are checked elsewhere (the config: `check_config`)
        return lambda value, depth: None if isinstance(value, dict) else f"should be an object, not {kind_of(value)}"
    if kind == "dict" or kind.startswith("dict[str, ") and kind.endswith("]"):
        item = _checker(kind[10:-1] if kind != "dict" else "json")

        def check_dict(value, depth):
            if not isinstance(value, dict):
                return f"should be an object, not {kind_of(value)}"
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
    test = {"str": _text, "int": is_int, "float": is_number, "bool": lambda v: v is True or v is False}.get(kind)
    message = f"should be {_WANTED.get(kind, 'plain JSON')}, not "
    if test is None:  # "json", or an annotation this does not parse: any plain JSON
        return lambda value, depth: None if _json(value, depth) else message + kind_of(value)
    return lambda value, depth: None if test(value) else message + kind_of(value)


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


def is_int(value) -> bool:
    return value.__class__ is int and -_INT64 <= value < _INT64 or \
        isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


def is_number(value) -> bool:
    return value.__class__ is float or is_int(value)  # NaN and infinity too: a diverged loss is one


def _json(value, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_text(k) and _json(v, depth + 1) for k, v in value.items())
    return value is None or isinstance(value, (bool, float)) or is_int(value) or _text(value)


def kind_of(value) -> str:
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


def short(value) -> str:
    text = repr(value) if _json(value, _MAX_DEPTH - 1) else kind_of(value)
    return text if len(text) <= 40 else text[:37] + "..."


_CONFIG_CHECKERS = {name: _checker(kind) for name, kind in {**CONFIG_FIELDS, **OLD_CONFIG_FIELDS}.items()}
_CONFIG_PLAIN = _plain({**CONFIG_FIELDS, **OLD_CONFIG_FIELDS})
