"""How a study's judge reads its cells: a difference counts only beyond the seeds' spread."""

from __future__ import annotations

from workbench.studies.core import Cell


def apart(a: Cell, b: Cell) -> bool | None:
    """Whether ``a`` is above ``b`` by more than their spreads (True), below by more (False), or neither (None)."""
    if a.mean is None or b.mean is None:
        return None
    margin = (a.std or 0.0) + (b.std or 0.0)
    if a.mean - b.mean > margin:
        return True
    if b.mean - a.mean > margin:
        return False
    return None


def show(value: float | None, std: float | None, percent: bool = True) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{100 * value:.1f}%" + (f" ± {100 * std:.1f}" if std else "")
    return f"{value:.3g}" + (f" ± {std:.2g}" if std else "")


def difference(a: Cell, b: Cell, arm: str) -> Cell:
    """``a - b`` seed by seed (paired: the same seed is the same split and start for both)."""
    values = [None if u is None or v is None else u - v for u, v in zip(a.values, b.values)]
    return Cell(a.x, arm, a.metric, values, [])


def sign(cell: Cell) -> bool | None:
    """Whether a difference is above zero by more than its spread (True), below (False), or neither (None)."""
    return apart(cell, Cell(cell.x, "zero", cell.metric, [0.0] * len(cell.values), []))


def overall(beats) -> bool | None:
    """One verdict from each arm's: True where some arm is above beyond the spread and none below, False where some
    is below and none above, None where they disagree or all are within the spread."""
    beats = list(beats)
    up, down = True in beats, False in beats
    return True if up and not down else False if down and not up else None
