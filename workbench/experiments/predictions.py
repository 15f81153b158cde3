"""A prediction beside what the comparison measured: who reached the target first, by how much, how high each ended.

`outcome` reads a finished comparison the way a prediction is written (mean over seeds), so the comparison view,
the class board's predicted-vs-measured chart, its list of surprises and the notebooks all compare the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.experiments.comparisons import Comparison
from workbench.store.predictions import Prediction

ROLES = ("transfer", "scratch")


@dataclass(frozen=True)
class Measured:
    """What a comparison showed, in a prediction's terms."""

    first: str  # "transfer", "scratch" or "neither" (a tie, or no one reached the target)
    by_epochs: float  # how many epochs sooner; for a network that never reached it, counted from one past the end
    transfer_acc: float | None
    scratch_acc: float | None
    target_acc: float


@dataclass(frozen=True)
class Outcome:
    prediction: Prediction
    measured: Measured

    @property
    def first_right(self) -> bool:
        return self.prediction.first == self.measured.first

    def measured_acc(self, role: str) -> float | None:
        return getattr(self.measured, f"{role}_acc")

    def error(self, role: str) -> float | None:
        """Predicted minus measured test accuracy of one network (positive: it was expected higher)."""
        measured = self.measured_acc(role)
        return None if measured is None else getattr(self.prediction, f"{role}_acc") - measured

    @property
    def surprise(self) -> float:
        """How far off, in accuracy points summed over both networks, plus one whole point for the wrong winner."""
        misses = sum(abs(e) for e in (self.error(r) for r in ROLES) if e is not None)
        return misses + (0.0 if self.first_right else 1.0)

    def rows(self) -> list[tuple[str, str, str]]:
        """(what, predicted, measured) as a person reads them."""
        p, m = self.prediction, self.measured
        pct = lambda v: "-" if v is None else f"{100 * v:.0f} %"  # noqa: E731
        return [(f"first to {100 * m.target_acc:.0f} % validation accuracy", _first(p.first, p.by_epochs),
                 _first(m.first, m.by_epochs)),
                ("transfer's test accuracy", pct(p.transfer_acc), pct(m.transfer_acc)),
                ("scratch's test accuracy", pct(p.scratch_acc), pct(m.scratch_acc))]


def _first(first: str, by: float) -> str:
    if first == "neither":
        return "neither"
    return f"{first}, {by:.3g} epoch{'' if by == 1 else 's'} sooner"


def finished(comparison: Comparison) -> bool:
    runs = comparison.transfer + comparison.scratch
    return bool(comparison.transfer and comparison.scratch) and all(r.status == "completed" for r in runs)


def measured(comparison: Comparison) -> Measured | None:
    """The comparison's result in a prediction's terms, once both networks finished (None before)."""
    if not finished(comparison):
        return None
    summary = comparison.summary()
    epochs = min(len(summary[r]["epochs"]) for r in ROLES)
    reached = {r: summary[r]["epochs_to_target"] for r in ROLES}
    if reached["transfer"] is None and reached["scratch"] is None:
        first, by = "neither", 0.0
    else:
        at = {r: epochs + 1 if reached[r] is None else reached[r] for r in ROLES}
        by = abs(at["transfer"] - at["scratch"])
        first = "neither" if by == 0 else min(ROLES, key=at.get)
    return Measured(first, float(by), summary["transfer"]["test_acc"], summary["scratch"]["test_acc"],
                    comparison.config.transfer.target_acc)


def outcome(prediction: Prediction, comparison: Comparison) -> Outcome | None:
    result = measured(comparison)
    return None if result is None else Outcome(prediction, result)


def class_outcomes(predictions: dict[str, Prediction], comparisons: dict[str, Comparison]) -> list[Outcome]:
    """Every finished comparison that had a prediction, newest prediction last."""
    found = [outcome(p, comparisons[c]) for c, p in predictions.items() if c in comparisons]
    return sorted((o for o in found if o is not None), key=lambda o: o.prediction.made)


def surprises(outcomes: list[Outcome], count: int = 5) -> list[Outcome]:
    """The predictions furthest from what happened: the class's best questions."""
    return sorted(outcomes, key=lambda o: -o.surprise)[:count]
