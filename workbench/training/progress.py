"""A run's progress where no UI listens: one line under the notebook cell that trains it.

A cell that calls the engine directly (`train_run`, `train_seeds`, `run_comparison`, a study) used to stay
blank until its last run ended: nearly a minute in a tutorial. Inside a Jupyter kernel each such run now
reports on one line of plain text under its cell, the same line for every run the cell trains: what it is
doing before its first step, the step and epoch, seconds so far, and that the machine is busy as soon as
the cost meter sees it. When a run ends the line says what it reached and keeps the note of every run the
machine was busy for (compare FLOPs, not seconds). Outside a kernel (scripts, the command line, workers) a
run stays silent here: those have their own progress. Plain text, so it shows in JupyterLab, Notebook 7,
Voilà and a saved notebook alike.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

from workbench.core.metrics import busy_now, machine_busy, percent, seconds
from workbench.core.records import RunRecord
from workbench.spec.config import RunConfig
from workbench.training.cost import BusyWatch
from workbench.training.hooks import Hooks

EVERY_S = 0.5  # at most two redraws a second: the line must not cost the training its CPU
BAR = 20


def _kernel_cell() -> tuple[object, str] | None:
    """(the IPython shell, the id of the cell request it is running) inside a Jupyter kernel, else None."""
    if "IPython" not in sys.modules:  # never import IPython only to find out
        return None
    shell = sys.modules["IPython"].get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    return shell, (getattr(shell, "parent_header", None) or {}).get("header", {}).get("msg_id", "")


class _Cell:
    """The line of one notebook cell, shared by every run the cell trains."""

    def __init__(self, show: Callable[[str], None]):
        self.show, self.runs, self.busy_notes = show, 0, []


_CELLS: dict[str, _Cell] = {}


def _display_line() -> Callable[[str], None]:
    from IPython.display import display

    handle = display({"text/plain": "starting…"}, raw=True, display_id=True)
    return lambda text: handle.update({"text/plain": text}, raw=True)


def default_hooks() -> Hooks:
    """What a run reports to when its caller gave no hooks: a `CellLine` in a notebook cell, else nothing."""
    found = _kernel_cell()
    if found is None:
        return Hooks()
    _, cell_id = found
    if cell_id not in _CELLS:
        _CELLS.clear()  # one cell trains at a time; an older cell's line is finished
        _CELLS[cell_id] = _Cell(_display_line())
    return CellLine(_CELLS[cell_id])


class CellLine(Hooks):
    """One run's progress on its cell's line (see the module's docstring)."""

    def __init__(self, cell: _Cell):
        self.cell, self.busy = cell, BusyWatch(every_s=1.5)
        self.started, self.last = time.monotonic(), 0.0
        self.name, self.steps, self.epochs = "", 1, 1
        self.number = cell.runs + 1  # (counted once it starts: a comparison's data is decoded before its first run)

    def _say(self, text: str, now: bool = False) -> None:
        if not now and time.monotonic() - self.last < EVERY_S:
            return
        self.last = time.monotonic()
        busy = busy_now(self.busy.poll())
        prefix = f"run {self.number}" + (f", {self.name}" if self.name else "")
        self.cell.show(f"{prefix}: {text} · {time.monotonic() - self.started:.0f} s" + (f" · {busy}" if busy else "")
                       + "".join(f"\n{note}" for note in self.cell.busy_notes))

    def on_prepare(self, what: str) -> None:
        self._say(what + "…", now=True)

    def on_start(self, record: RunRecord, steps_per_epoch: int) -> None:
        config = RunConfig.of(record)
        self.cell.runs = self.number
        self.name = f"{record.role} seed {config.seed}" if record.role != "single" else f"seed {config.seed}"
        self.steps, self.epochs = steps_per_epoch, config.epochs
        if record.reused_from:
            self._say(f"reused from run {record.reused_from} (same settings and data: nothing to train)", now=True)

    def on_step(self, record: RunRecord, epoch: int, step: int, loss: float) -> None:
        done = ((epoch - 1) * self.steps + step) / max(1, self.steps * self.epochs)
        filled = round(BAR * done)
        self._say(f"{'█' * filled}{'░' * (BAR - filled)} epoch {epoch}/{self.epochs}, step {step}/{self.steps}",
                  now=step == 1)  # each epoch's first step always shows: a fast epoch still moves the line

    def on_epoch(self, record: RunRecord) -> None:
        last = record.epochs[-1]
        self._say(f"epoch {last.epoch}/{self.epochs} done, val acc {percent(last.val_acc)}", now=True)

    def on_end(self, record: RunRecord) -> None:
        note = machine_busy(record)
        if note:
            self.cell.busy_notes.append(f"run {self.number}: {note}")
        wall = record.epochs[-1].cum_s if record.epochs else None
        done = f"reused from run {record.reused_from}" if record.reused_from else f"done in {seconds(wall)} of training"
        ended = {"completed": f"{done}: test acc {percent(record.test_acc)}",
                 "interrupted": "stopped; its finished epochs were saved"}.get(record.status, record.status)
        self._say(ended, now=True)
