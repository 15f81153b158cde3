"""Comparisons and sweeps running in the background, so a UI stays responsive.

A `Job` trains its comparisons one after another, reports progress, and stops cleanly when
asked: the run in progress is saved as interrupted with its finished epochs. It works in one
of two places:

* a thread (notebook widgets): ``on_epoch`` callbacks can update live figures directly;
* a separate process (the dashboard): Streamlit re-renders the page every second, and that
  Python work would otherwise compete with the training loop for the GIL (measured: 8x
  slower epochs). Progress then travels over a multiprocessing queue.

Either way the worker reports through the same events, and results are read back from the
run store, so the UI code is the same.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from typing import Callable

from workbench.config import ComparisonConfig
from workbench.errors import WorkbenchError
from workbench.experiment import Comparison, group_comparisons, run_comparison
from workbench.records import RunRecord
from workbench.runs import RunStore
from workbench.train import Hooks, StopRequested


class _ReportingHooks(Hooks):
    """Turns training callbacks into job events; asks to stop when the job's flag is set."""

    def __init__(self, stop, events, on_epoch: Callable[[RunRecord], None] | None):
        self.stop, self.events, self.on_epoch_callback = stop, events, on_epoch
        self.steps_per_epoch = 1
        self.epochs = 1

    def on_start(self, record: RunRecord, steps_per_epoch: int) -> None:
        self.steps_per_epoch, self.epochs = steps_per_epoch, record.config["epochs"]
        self.events.put(("run", record.comparison_id))

    def on_step(self, record: RunRecord, epoch: int, step: int, loss: float) -> None:
        done = (epoch - 1) * self.steps_per_epoch + step
        self.events.put(("progress", done / (self.steps_per_epoch * self.epochs),
                         f"{record.role} seed {record.config['seed']}: epoch {epoch}/{self.epochs}"))

    def on_epoch(self, record: RunRecord) -> None:
        if self.on_epoch_callback:
            self.on_epoch_callback(record)

    def should_stop(self) -> bool:
        return self.stop.is_set()


def _execute(configs: list[ComparisonConfig], runs_dir: str, stop, events,
             on_epoch: Callable[[RunRecord], None] | None = None) -> None:
    """The worker: train every comparison, then report how it ended."""
    hooks = _ReportingHooks(stop, events, on_epoch)
    try:
        for config in configs:
            run_comparison(config, RunStore(runs_dir), hooks_for=lambda role, seed: hooks)
        events.put(("end", "completed", None))
    except StopRequested:
        events.put(("end", "interrupted", None))
    except WorkbenchError as exc:
        events.put(("end", "failed", str(exc)))
    except Exception as exc:  # noqa: BLE001 - a background worker must report, not vanish
        events.put(("end", "failed", f"{type(exc).__name__}: {exc}"))


class Job:
    """One or more comparisons (a sweep is several) trained in order in the background."""

    def __init__(self, configs: list[ComparisonConfig], store: RunStore,
                 on_epoch: Callable[[RunRecord], None] | None = None, label: str = "comparison",
                 in_process: bool = False):
        if in_process and on_epoch is not None:
            raise ValueError("on_epoch callbacks need a thread job; a process job reports through the store")
        self.configs, self.store, self.label = configs, store, label
        self.state = "queued"  # queued, running, completed, interrupted, failed
        self.error: str | None = None
        self.message = ""
        self.progress = 0.0
        self.comparison_ids: list[str] = []
        self._runs_total = sum(2 * len(c.seeds) for c in configs)
        self._runs_started = 0
        args = (configs, str(store.root))
        if in_process:
            context = multiprocessing.get_context("spawn")
            self._stop, self._events = context.Event(), context.Queue()
            self._worker = context.Process(target=_execute, args=(*args, self._stop, self._events),
                                           name=f"workbench-{label}", daemon=True)
        else:
            self._stop, self._events = threading.Event(), queue.Queue()
            self._worker = threading.Thread(target=_execute, args=(*args, self._stop, self._events, on_epoch),
                                            name=f"workbench-{label}", daemon=True)

    def start(self) -> "Job":
        self.state = "running"
        self._worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> "Job":
        self._worker.join(timeout)
        self._drain()
        return self

    @property
    def running(self) -> bool:
        self._drain()
        return self.state == "running"

    @property
    def results(self) -> list[Comparison]:
        """The comparisons this job has recorded so far, read back from the run store."""
        self._drain()
        recorded = group_comparisons(self.store.scan()[0])
        return [recorded[c] for c in self.comparison_ids if c in recorded]

    def _drain(self) -> None:
        """Apply the worker's pending events; notice a worker that ended without a word."""
        while True:
            try:
                event = self._events.get_nowait()
            except (queue.Empty, OSError, ValueError):
                break
            self._apply(event)
        if self.state == "running" and self._worker.ident is not None and not self._worker.is_alive():
            self._collect_last_events()
            if self.state == "running":
                self.state, self.message = "interrupted", "the worker ended unexpectedly; finished epochs were saved"

    def _collect_last_events(self) -> None:
        """A process's last events can still be in the pipe just after it exits."""
        while self.state == "running":
            try:
                self._apply(self._events.get(timeout=1.0))
            except (queue.Empty, OSError, ValueError):
                return

    def _apply(self, event: tuple) -> None:
        kind = event[0]
        if kind == "run":
            self._runs_started += 1
            if event[1] not in self.comparison_ids:
                self.comparison_ids.append(event[1])
        elif kind == "progress":
            self.progress = min(1.0, (self._runs_started - 1 + event[1]) / max(self._runs_total, 1))
            self.message = event[2]
        elif kind == "end":
            self.state, self.error = event[1], event[2]
            self.message = {"completed": "done", "interrupted": "stopped; finished epochs were saved"}.get(
                event[1], event[2])
            if event[1] == "completed":
                self.progress = 1.0
