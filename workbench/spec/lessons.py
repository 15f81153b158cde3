"""A lesson: what a class explores, written once in a small TOML file a teacher can read and edit.

A lesson names the settings students may change (with their allowed values or range), fixes the rest, says what
students predict, and which chart the class board draws (a line over one free setting, or a heatmap over two),
pooled over the class. `workbench.spec.lesson_files` reads and checks the file with one-line errors (`workbench
lesson check`) and keeps the class's lesson in its run folder, where the teacher's page can change it while the class
server runs. A lesson restricts a page's sidebar and every Launch (`Lesson.check_values`): what a
student types, or puts in a link, is held to it.

    title = "How deep should we freeze?"
    question = "Which network reaches the target first, and how high does each end?"
    instructions = "Markdown shown above the settings"
    require_prediction = true
    teacher_note = "what happens, measured, and how it varies with seeds"
    [fixed]                     # anything left out keeps the option's default
    epochs = 8
    [free]                      # a list of values, or {low, high}
    freeze_depth = [0, 2, 4, 6]
    [board]
    chart = "line"              # or "heatmap" with two settings in `over`
    over = ["freeze_depth"]
    metric = "test_acc"
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from workbench.core.errors import ConfigError
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.options import BY_NAME, min_image_size, option, parse_seeds, shown_in

QUICK = {"image_size": 32, "epochs": 1, "train_per_class": 2}  # a lesson's class experiment, checked in seconds


@dataclass(frozen=True)
class Free:
    """A setting students may change: to one of ``values``, or anywhere in ``low``..``high``."""

    name: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None

    def allows(self, value) -> bool:
        if self.values:
            return value in self.values or (isinstance(value, float) and any(
                isinstance(v, (int, float)) and abs(v - value) <= 1e-9 * max(abs(v), 1e-12) for v in self.values))
        return isinstance(value, (int, float)) and self.low <= value <= self.high

    def describe(self) -> str:
        o = option(self.name)
        if self.values:
            return ", ".join(o.show(v) for v in self.values)
        return f"{o.show(self.low)} to {o.show(self.high)}"


@dataclass(frozen=True)
class Lesson:
    title: str
    question: str
    instructions: str = ""
    free: dict[str, Free] = field(default_factory=dict)
    fixed: dict[str, object] = field(default_factory=dict)
    chart: str = "line"
    over: tuple[str, ...] = ()
    metric: str = "test_acc"
    require_prediction: bool = False
    teacher_note: str = ""
    text: str = ""  # the file as written: what the run folder keeps

    def setting(self, name: str):
        """The value a lesson holds ``name`` at (its fixed value, else the option's default)."""
        return self.fixed.get(name, option(name).default)

    def fixed_values(self) -> dict:
        """Every option a page shows that students may not change, at the lesson's value."""
        return {o.name: self.setting(o.name) for o in shown_in("dashboard") if o.name not in self.free}

    def check_values(self, values: dict) -> None:
        """Refuse a form whose settings leave the lesson (a fixed one changed, a free one out of range)."""
        for name, value in values.items():
            if name in self.free:
                if not self.free[name].allows(value):
                    raise ConfigError(f"this lesson takes {option(name).label} {self.free[name].describe()}, "
                                      f"not {option(name).show(value)}")
            elif name in BY_NAME and _differs(value, self.setting(name)):
                raise ConfigError(f"this lesson keeps {option(name).label} at {option(name).show(self.setting(name))}")

    def belongs(self, config: ComparisonConfig) -> bool:
        """Whether a recorded comparison was run under this lesson's fixed settings (the board pools only those)."""
        values = {**config.transfer.to_dict(), "scratch_lr": config.scratch_lr, "seeds": config.seeds}
        return all(not _differs(values.get(name), self.setting(name)) for name in self.fixed_values()
                   if name in values and name != "seeds")

    def class_configs(self, quick: bool = False, seeds: list[int] | None = None) -> list[ComparisonConfig]:
        """The class's experiment: one comparison per value (or pair of values) of the board's settings, the rest
        at the lesson's values; ``quick`` shrinks images, epochs and data to check a lesson in seconds."""
        values = {**self.fixed_values(), **{name: _first(free) for name, free in self.free.items()}}
        run = {k: v for k, v in values.items() if option(k).scope == "run"}
        if quick:
            run.update(QUICK, image_size=max(QUICK["image_size"], min_image_size(run["backbone"])))
        run = RunConfig(**run)
        lesson_seeds = values["seeds"] if isinstance(values["seeds"], list) else parse_seeds(values["seeds"])
        base = ComparisonConfig(run, values["scratch_lr"], list(seeds) if seeds is not None else lesson_seeds)
        configs = [base]
        for name in self.over:
            free = self.free[name]
            points = list(free.values) if free.values else [free.low, free.high]
            if quick:
                points = points[:: max(1, len(points) - 1)]  # the two ends
            configs = [_with(c, name, v) for c in configs for v in points]
        return [c.validate() for c in configs]


def _with(config: ComparisonConfig, name: str, value) -> ComparisonConfig:
    if option(name).scope == "comparison":
        return replace(config, **{name: value})
    return replace(config, transfer=replace(config.transfer, **{name: value}))


def _first(free: Free):
    """Where a free setting starts: the option's default when the lesson allows it, else the first value allowed."""
    default = option(free.name).default
    return default if free.allows(default) else free.values[0] if free.values else free.low


def _differs(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, (list, tuple)):
        return parse_seeds(a) != list(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) > 1e-9 * max(abs(a), abs(b), 1e-12)
    return a != b
