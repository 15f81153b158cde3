"""Lesson files: a lesson's TOML read and checked with one-line errors (`workbench lesson check`), the lessons that
ship, and the one a class has now, kept in the run folder (`ClassLesson`) that the class server and the teacher's
page share."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import tomllib

from workbench.core.errors import ConfigError
from workbench.core.files import write_atomically
from workbench.core.metrics import ACCURACIES
from workbench.spec.lessons import Free, Lesson
from workbench.spec.options import BY_NAME, SWEEPABLE, option, parse_seeds, shown_in

KEYS = {"title", "question", "instructions", "require_prediction", "teacher_note", "fixed", "free", "board"}
BOARD_KEYS = {"chart", "over", "metric"}
CHARTS = {"line": 1, "heatmap": 2}  # how many settings each chart draws over
MAX_TEXT = 4000  # instructions and notes: a page of Markdown, not a book
LESSON_STATE = "lesson.json"  # in the run folder: the lesson the teacher chose for the class, if any


def _unknown(name: str, where: str, known) -> ConfigError:
    near = difflib.get_close_matches(name, list(known), n=1)
    return ConfigError(f"{where}: unknown setting {name!r}" + (f"; did you mean {near[0]!r}?" if near else ""))


def _text(data: dict, key: str, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be text in quotes")
    if required and not value.strip():
        raise ConfigError(f"give the lesson a {key} (a line of text)")
    if len(value) > MAX_TEXT:
        raise ConfigError(f"{key} is {len(value)} characters long; keep it under {MAX_TEXT}")
    return value.strip()


def _value(name: str, value, where: str):
    """A value as written in TOML, checked like a typed one (seeds may be a list or text)."""
    o = option(name)
    if name == "seeds":
        value = parse_seeds(value if isinstance(value, str) else " ".join(map(str, value))) \
            if isinstance(value, (str, list)) else value
        if not isinstance(value, list):
            raise ConfigError(f"{where}: seeds are whole numbers, e.g. [0, 1, 2]")
        return value
    if o.kind in ("float", "logfloat") and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if o.kind == "bool" and not isinstance(value, bool):
        raise ConfigError(f"{where}: {name} is true or false, got {value!r}")
    if o.kind == "text" and not isinstance(value, str):
        raise ConfigError(f"{where}: {name} is text in quotes, got {value!r}")
    if o.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: {name} is a whole number, got {value!r}")
    return value


def _check(name: str, value, backbone: str, where: str) -> None:
    try:
        option(name).check(value, backbone)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _free(name: str, spec, backbone: str) -> Free:
    where = f"free.{name}"
    o = option(name)
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: list at least one value students may pick")
        values = tuple(_value(name, v, where) for v in spec)
        if len(set(map(str, values))) < len(values):
            raise ConfigError(f"{where}: a value is listed twice")
        for v in values:
            _check(name, v, backbone, where)
        return Free(name, values)
    if isinstance(spec, dict) and set(spec) == {"low", "high"}:
        if o.kind not in ("int", "float", "logfloat"):
            raise ConfigError(f"{where}: {name} is not a number; list its values instead of a range")
        low, high = (_value(name, spec[k], where) for k in ("low", "high"))
        _check(name, low, backbone, where)
        _check(name, high, backbone, where)
        if not low < high:
            raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
        return Free(name, low=low, high=high)
    raise ConfigError(f"{where}: give a list of values, e.g. [0, 2, 4], or a range, e.g. {{ low = 1e-4, high = 1e-2 }}")


def parse_lesson(text: str) -> Lesson:
    """The lesson in ``text`` (TOML), or a one-line `ConfigError` saying what to fix."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not a TOML file: {exc}") from None
    for key in data:
        if key not in KEYS:
            near = difflib.get_close_matches(key, list(KEYS), n=1)
            raise ConfigError(f"unknown key {key!r}" + (f"; did you mean {near[0]!r}?" if near else "")
                              + f" (a lesson has {', '.join(sorted(KEYS))})")
    fixed_spec, free_spec, board = data.get("fixed", {}), data.get("free", {}), data.get("board", {})
    for table, value in (("fixed", fixed_spec), ("free", free_spec), ("board", board)):
        if not isinstance(value, dict):
            raise ConfigError(f"{table} must be a table, e.g. [{table}]")
    fixed = {}
    for name, value in fixed_spec.items():
        if name not in BY_NAME:
            raise _unknown(name, "fixed", BY_NAME)
        fixed[name] = _value(name, value, f"fixed.{name}")
    backbone = fixed.get("backbone", option("backbone").default)
    _check("backbone", backbone, backbone, "fixed.backbone")
    for name, value in fixed.items():
        if name != "seeds":
            _check(name, value, backbone, f"fixed.{name}")
    if not free_spec:
        raise ConfigError("[free] is empty: name at least one setting students may change")
    pages = {o.name for o in shown_in("dashboard")}
    free = {}
    for name, spec in free_spec.items():
        if name not in BY_NAME:
            raise _unknown(name, "free", pages)
        if name in fixed:
            raise ConfigError(f"{name} is both fixed and free; keep it in one of [fixed] and [free]")
        if name not in pages:
            raise ConfigError(f"free.{name}: a page does not show {name}; fix it in [fixed] instead")
        if name == "backbone":
            raise ConfigError("free.backbone: the board pools comparisons of one backbone; fix it in [fixed]")
        free[name] = _free(name, spec, backbone)
    for key in board:
        if key not in BOARD_KEYS:
            raise ConfigError(f"board: unknown key {key!r} (a board has {', '.join(sorted(BOARD_KEYS))})")
    chart = board.get("chart", "line")
    if chart not in CHARTS:
        raise ConfigError(f"board.chart is 'line' or 'heatmap', not {chart!r}")
    over = board.get("over", list(free)[: CHARTS[chart]])
    if isinstance(over, str):
        over = [over]
    if not isinstance(over, list) or len(over) != CHARTS[chart]:
        raise ConfigError(f"board.over names {CHARTS[chart]} free setting(s) for a {chart}, e.g. over = "
                          f"{json.dumps(list(free)[:CHARTS[chart]])}")
    for name in over:
        if name not in free:
            raise ConfigError(f"board.over: {name!r} is not a free setting; the board draws over what students change")
        if name not in SWEEPABLE:
            raise ConfigError(f"board.over: the board cannot draw over {name}; use one of {', '.join(SWEEPABLE)}")
    metric = board.get("metric", "test_acc")
    if metric not in {m.key for m in ACCURACIES}:
        raise ConfigError(f"board.metric is one of {', '.join(m.key for m in ACCURACIES)}, not {metric!r}")
    require = data.get("require_prediction", False)
    if not isinstance(require, bool):
        raise ConfigError("require_prediction is true or false")
    return Lesson(_text(data, "title", True), _text(data, "question", True), _text(data, "instructions"), free,
                  fixed, chart, tuple(over), metric, require, _text(data, "teacher_note"), text)


def read_lesson(path: str | Path) -> Lesson:
    """The lesson in the file at ``path``; its errors start with the file's name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no lesson file at {path}; see `workbench lesson list` for the ones that ship") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the lesson file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return parse_lesson(text)
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None


def shipped_lessons() -> dict[str, Path]:
    """The lessons that come with the workbench, by file stem, in order. A wheel holds them in workbench/lessons;
    a checkout keeps them in lessons/ beside the package."""
    package = Path(__file__).parent.parent
    folder = next((d for d in (package / "lessons", package.parent / "lessons") if d.is_dir()), None)
    return {} if folder is None else {p.stem: p for p in sorted(folder.glob("*.toml"))}


def find_lesson(name_or_path: str) -> Lesson:
    """A shipped lesson by name, or a lesson file by path."""
    shipped = shipped_lessons()
    return read_lesson(shipped.get(name_or_path, name_or_path))


@dataclass(frozen=True)
class ClassLesson:
    """What the teacher chose for the class, kept in the run folder that the class server and the teacher's page
    share: the lesson (its text, checked again when read) and whether a Launch needs a prediction first."""

    lesson: Lesson | None = None
    require_prediction: bool = False

    @property
    def prediction_required(self) -> bool:
        return self.require_prediction or (self.lesson is not None and self.lesson.require_prediction)

    def for_teacher(self) -> "ClassLesson":
        """The teacher's page shows the lesson as the class sees it, but asks the teacher for no prediction."""
        return ClassLesson(self.lesson and replace(self.lesson, require_prediction=False), False)

    @classmethod
    def read(cls, runs_dir: str | Path) -> "ClassLesson":
        """The class's lesson now; none when the file is missing or unreadable (a class page never fails on it)."""
        try:
            data = json.loads((Path(runs_dir) / LESSON_STATE).read_text(encoding="utf-8"))
            lesson = parse_lesson(data["lesson"]) if data.get("lesson") else None
            return cls(lesson, bool(data.get("require_prediction", False)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError):
            return cls()

    def write(self, runs_dir: str | Path) -> None:
        data = json.dumps({"lesson": self.lesson.text if self.lesson else None,
                           "require_prediction": self.require_prediction}).encode()
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
        write_atomically(Path(runs_dir) / LESSON_STATE, lambda stream: stream.write(data))
