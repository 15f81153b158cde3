"""What one Launch on a class server may ask for: the limits a teacher sets when starting the server.

A class shares one machine, and one click once queued 90,000 comparisons (a grid) or 1,000 seeds of 500
epochs. A dashboard started with ``workbench dashboard`` refuses a Launch over any of these limits, before
anything is built or queued, in one line that names the limit and the flag that changes it. The defaults
suit a 2-core laptop (the default comparison and the sidebar's suggested sweeps fit); ``0`` lifts a limit.
The command line and the notebooks are the teacher's own tools: they are not limited (`Limits.unlimited`).

Declared once (`LIMITS`): the dashboard command's flags, the server's own parser and the refusals read it.
Torch-free, like the rest of the option spec.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable

from workbench.core.errors import ConfigError


class LimitError(ConfigError):
    """A Launch over one of the server's limits."""


@dataclass(frozen=True)
class Limit:
    """One limit: its field on `Limits`, the flag that sets it, its default and what it counts."""

    name: str
    default: int
    unit: str  # as a refusal says it: "at most 24 runs per launch"
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


LIMITS: tuple[Limit, ...] = (
    Limit("max_runs_per_launch", 24, "runs per launch",
          "runs one Launch may queue (a comparison is 2 runs per seed; a 4 x 3 grid with one seed is 24)"),
    Limit("max_queued_per_person", 1, "in the queue per person",
          "jobs one person (one browser) may have waiting or training at once"),
    Limit("max_epochs", 30, "epochs", "epochs of any run"),
    Limit("max_seeds", 3, "seeds per comparison", "seeds of one comparison"),
    Limit("max_image_size", 160, "px images", "image size of any run, in pixels"),
)


def limit(name: str) -> Limit:
    return next(item for item in LIMITS if item.name == name)


def count_values(text: object) -> int:
    """How many values a typed list holds ('0 1 2', '0,1,2'), counted without parsing them."""
    return len(str(text).replace(",", " ").split()) if isinstance(text, str) else len(list(text or ()))


@dataclass(frozen=True)
class Limits:
    """The limits of one server; ``None`` (or 0 on the command line) is no limit."""

    max_runs_per_launch: int | None = limit("max_runs_per_launch").default
    max_queued_per_person: int | None = limit("max_queued_per_person").default
    max_epochs: int | None = limit("max_epochs").default
    max_seeds: int | None = limit("max_seeds").default
    max_image_size: int | None = limit("max_image_size").default

    @classmethod
    def unlimited(cls) -> "Limits":
        return cls(**{f.name: None for f in fields(cls)})

    @classmethod
    def of(cls, values: dict) -> "Limits":
        """From parsed flags ({name: number or None}): None keeps the default, 0 lifts the limit."""
        chosen = {}
        for item in LIMITS:
            value = values.get(item.name)
            if value is not None and value < 0:
                raise ConfigError(f"{item.flag} takes 0 (no limit) or more, got {value}")
            chosen[item.name] = item.default if value is None else (value or None)
        return cls(**chosen)

    def _refuse(self, name: str, asked: int, what: str) -> None:
        most = getattr(self, name)
        if most is not None and asked > most:
            raise LimitError(f"{what}; this server takes at most {most} {limit(name).unit} (the teacher can change "
                             f"it: workbench dashboard {limit(name).flag} N, 0 for no limit)")

    def check_request(self, comparisons: int, seeds: object) -> None:
        """Before anything is built: ``comparisons`` (a sweep's or grid's count) with ``seeds`` (as typed) each."""
        seed_count = count_values(seeds)
        self._refuse("max_seeds", seed_count, f"this launch asks for {seed_count:,} seeds")
        seed_count = max(1, seed_count)
        runs = 2 * comparisons * seed_count
        self._refuse("max_runs_per_launch", runs, f"this launch trains {runs:,} runs ({comparisons:,} comparison"
                                                  f"{'s' if comparisons > 1 else ''} × "
                                                  f"{seed_count} seed{'s' if seed_count > 1 else ''}, each a transfer "
                                                  f"and a scratch run)")

    def check(self, configs: Iterable) -> None:
        """The built comparisons (`ComparisonConfig`): their runs, seeds, epochs and image sizes."""
        configs = list(configs)
        for config in configs:
            self._refuse("max_seeds", len(config.seeds), f"this launch asks for {len(config.seeds)} seeds")
            self._refuse("max_epochs", config.transfer.epochs, f"this launch trains {config.transfer.epochs} epochs")
            self._refuse("max_image_size", config.transfer.image_size,
                         f"this launch uses {config.transfer.image_size} px images")
        runs = sum(2 * len(config.seeds) for config in configs)
        self._refuse("max_runs_per_launch", runs, f"this launch trains {runs:,} runs")

    def check_queued(self, queued: int) -> None:
        """Before a person's next job joins the queue: ``queued`` of theirs already wait or train."""
        self._refuse("max_queued_per_person", queued + 1,
                     f"you already have {queued} job{'s' if queued != 1 else ''} waiting or training")
