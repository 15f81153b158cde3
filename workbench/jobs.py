"""Comparisons and sweeps running in a background thread, so a UI stays responsive.

A `Job` trains its comparisons one after another, reports progress, and stops cleanly when
asked: the run in progress is saved as interrupted with its finished epochs. The dashboard and
the notebook widgets both use it; neither has training logic of its own.
"""

from __future__ import annotations

import threading
from typing import Callable

from workbench.config import ComparisonConfig
from workbench.errors import WorkbenchError
from workbench.experiment import Comparison, run_comparison
from workbench.records import RunRecord
from workbench.runs import RunStore
from workbench.train import Hooks, StopRequested


class _JobHooks(Hooks):
    def __init__(self, job: "Job"):
        self.job = job
        self.steps = 1

    def on_start(self, record: RunRecord, steps_per_epoch: int) -> None:
        self.steps = steps_per_epoch * record.config["epochs"]
        self.job._run_started(record)

    def on_step(self, record: RunRecord, epoch: int, step: int, loss: float) -> None:
        done = len(record.epochs) * (self.steps // record.config["epochs"]) + step
        self.job._advance(done / self.steps, f"{record.role} seed {record.config['seed']}: epoch {epoch}")

    def on_epoch(self, record: RunRecord) -> None:
        if self.job.on_epoch:
            self.job.on_epoch(record)

    def should_stop(self) -> bool:
        return self.job._stop.is_set()


class Job:
    """One or more comparisons (a sweep is several) trained in order in a background thread."""

    def __init__(self, configs: list[ComparisonConfig], store: RunStore,
                 on_epoch: Callable[[RunRecord], None] | None = None, label: str = "comparison"):
        self.configs = configs
        self.store = store
        self.on_epoch = on_epoch
        self.label = label
        self.state = "queued"  # queued, running, completed, interrupted, failed
        self.error: str | None = None
        self.message = ""
        self.progress = 0.0
        self.comparison_ids: list[str] = []
        self.results: list[Comparison] = []
        self._runs_total = sum(2 * len(c.seeds) for c in configs)
        self._runs_started = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"workbench-{label}", daemon=True)

    # --- control ------------------------------------------------------------------------------

    def start(self) -> "Job":
        self.state = "running"
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> "Job":
        self._thread.join(timeout)
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # --- progress -----------------------------------------------------------------------------

    def _run_started(self, record: RunRecord) -> None:
        self._runs_started += 1
        if record.comparison_id and record.comparison_id not in self.comparison_ids:
            self.comparison_ids.append(record.comparison_id)

    def _advance(self, fraction: float, message: str) -> None:
        self.progress = min(1.0, (self._runs_started - 1 + fraction) / max(self._runs_total, 1))
        self.message = message

    def _work(self) -> None:
        try:
            for config in self.configs:
                self.results.append(run_comparison(config, self.store, hooks_for=lambda role, seed: _JobHooks(self)))
            self.state, self.progress, self.message = "completed", 1.0, "done"
        except StopRequested:
            self.state, self.message = "interrupted", "stopped; finished epochs were saved"
        except WorkbenchError as exc:
            self.state, self.error, self.message = "failed", str(exc), str(exc)
        except Exception as exc:  # noqa: BLE001 - a background thread must report, not vanish
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            self.message = self.error
