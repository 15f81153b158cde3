"""What every training panel shares: Run, Stop, and a progress bar and status line that keep moving.

A follower thread applies the job's events twice a second (progress, the epochs just recorded), so
the panel moves whether or not a cell is running. A notebook cell waits with ``await
panel.finished()``: while it awaits, the kernel (ipykernel 7) goes on handling widget messages, so
Stop works and a reloaded page gets its widgets back. A cell that blocks (``panel.wait()``) holds
the kernel until the run ends. When a waiting cell sees the run end, the panel also leaves its final
figures and table below it as ordinary outputs: a saved notebook shows them without a kernel (widget
state is not saved in notebooks; see README, "Notebooks and widgets"). The live views stay as they
are: after a page reload they are the only ones a running cell can still reach.
"""

from __future__ import annotations

import asyncio
import html
import queue
import threading
import time

import ipywidgets as w
from IPython import get_ipython
from IPython.display import DisplayHandle, display

from workbench.core.errors import WorkbenchError
from workbench.core.records import RunRecord
from workbench.jobs.job import Job
from workbench.spec.config import ComparisonConfig
from workbench.spec.preflight import preflight
from workbench.store.runs import RunStore
from workbench.widgets.controls import STYLE, WIDE

TICK_S = 0.5  # how often the follower updates progress and status
POLL_S = 0.1  # how often a waiting cell looks whether the run ended


def _error(message: str) -> str:
    return f"<span style='color:#b00'>error: {html.escape(message)}</span>"


class JobPanel(w.VBox):
    """Controls, Run and Stop, progress and status, then the views of the latest run's results."""

    def __init__(self, controls: list[w.Widget], results: list[w.Widget], store: RunStore | None):
        self.store = store or RunStore()
        self.run = w.Button(description="Run", button_style="primary", icon="play")
        self.stop = w.Button(description="Stop", icon="stop", disabled=True)
        self.progress = w.FloatProgress(min=0.0, max=1.0, description="progress", style=STYLE, layout=WIDE)
        self.status = w.HTML()
        self.job: Job | None = None
        self._follower: threading.Thread | None = None
        self._recorded: queue.SimpleQueue[RunRecord] = queue.SimpleQueue()
        self._copies: list[DisplayHandle] = []  # the plain outputs a waiting cell left, reused by later runs
        self.copied = False  # whether they hold this run's final results
        self.run.on_click(lambda _: self._start())
        self.stop.on_click(lambda _: self.job and self.job.stop())
        super().__init__([*controls, w.HBox([self.run, self.stop]), self.progress, self.status, *results])

    # What each panel fills in.
    def _configs(self) -> list[ComparisonConfig]:
        raise NotImplementedError

    def _clear(self) -> None:
        """Forget the previous run's results."""

    def _show(self, records: list[RunRecord]) -> None:
        """Epochs were just recorded (the records are live: the trainer keeps filling them)."""

    def _finished(self, job: Job) -> None:
        """The job ended; its comparisons are in the store."""

    def _final_outputs(self) -> list[dict]:
        """Mime bundles of the final figures and table."""
        return []

    def _start(self) -> None:
        if self._follower is not None and self._follower.is_alive():
            return
        try:
            configs = self._configs()
            preflight(configs)
        except WorkbenchError as exc:
            self.status.value = _error(str(exc))
            return
        self.run.disabled, self.stop.disabled = True, False
        self.progress.value = 0.0
        self.status.value = "starting..."
        for handle in self._copies:  # the copies belong to the run this one replaces
            handle.update({"text/plain": ""}, raw=True)
        self.copied = False
        self._clear()
        self.job = Job(configs, self.store, on_epoch=self._recorded.put, label=type(self).__name__).start()
        self._follower = threading.Thread(target=self._follow, args=(self.job,), daemon=True,
                                          name=f"{type(self).__name__}-follower")
        self._follower.start()

    def _follow(self, job: Job) -> None:
        started, problem = time.monotonic(), None
        try:
            while True:
                running = job.running  # applies the job's pending events
                records = []
                while not self._recorded.empty():
                    records.append(self._recorded.get())
                if records:
                    self._show(records)
                self.progress.value = job.progress
                self.status.value = html.escape(f"{job.message or 'loading data and model'}  ·  "
                                                f"{time.monotonic() - started:.0f} s")
                if not running:
                    break
                time.sleep(TICK_S)
            self._finished(job)
        except Exception as exc:  # noqa: BLE001 - a drawing problem must show, and must not leave Stop enabled
            job.stop()
            problem = f"could not show the results ({type(exc).__name__}: {exc})"
        self.run.disabled, self.stop.disabled = False, True
        self.progress.value = job.progress
        if problem or job.state == "failed":
            self.status.value = _error(problem or job.error or "")
        else:
            self.status.value = html.escape(f"{job.message}  ·  {time.monotonic() - started:.0f} s")

    def wait(self) -> "JobPanel":
        """Block until the run ends (scripts, tests), then leave the final results as outputs.

        In a notebook cell prefer ``await panel.finished()``: a blocked kernel cannot handle Stop.
        """
        if self._follower is not None:
            try:
                self._follower.join()
            except KeyboardInterrupt:  # a kernel interrupt stops the runs; finished epochs are kept
                self._stop_and_join()
                raise
        self._leave_copies()
        return self

    async def finished(self) -> "JobPanel":
        """Wait for the run in a notebook cell, the widgets staying live; then leave the results as outputs."""
        try:
            while self._follower is not None and self._follower.is_alive():
                await asyncio.sleep(POLL_S)
        except (KeyboardInterrupt, asyncio.CancelledError):  # interrupting the cell stops the runs
            self._stop_and_join()
            raise
        self._leave_copies()
        return self

    def _stop_and_join(self) -> None:
        self.job.stop()
        self._follower.join()

    def _leave_copies(self) -> None:
        """Show the final results as plain outputs below the panel (or refresh them, e.g. for a new x axis)."""
        outputs = self._final_outputs()
        if not outputs or not hasattr(get_ipython(), "kernel"):
            return
        outputs = [{"text/html": "<i>Final results, kept as plain outputs so that the saved notebook shows them "
                                 "without a kernel:</i>"}, *outputs]
        if len(self._copies) == len(outputs):
            for handle, bundle in zip(self._copies, outputs):
                handle.update(bundle, raw=True)
        else:
            self._copies = [display(bundle, raw=True, display_id=True) for bundle in outputs]
        self.copied = True
