"""What every training panel shares: Run, Stop, and a progress bar and status line that keep moving.

A follower thread applies the job's events twice a second (progress, the epochs just recorded), so
the panel moves whether or not a cell is running. A notebook cell waits with ``await
panel.finished()``: while it awaits, the kernel (ipykernel 7) goes on handling widget messages, so
Stop works and a reloaded page gets its widgets back. A cell that blocks (``panel.wait()``) holds
the kernel until the run ends. When a waiting cell sees the run end, the panel also leaves its final
figures and table below it as ordinary outputs: a saved notebook shows them without a kernel (widget
state is not saved in notebooks; see README, "Notebooks and widgets"). The live views stay as they
are: after a page reload they are the only ones a running cell can still reach.

Layout: Run, Stop and the progress bar on top, the status line, then the results (curves, table), then
the settings in an accordion, open until the first Run: what a run shows is never below the controls.

A page reloaded without saving (F5) is noticed by `workbench.widgets.kernel`.

In Voilà (a notebook served as an app) a cell's ``run.click()`` trains nothing: a run starts when a
visitor presses Run, and no plain copies are left (nothing is saved, they would show everything twice).
"""

from __future__ import annotations

import asyncio
import html
import json
import queue
import threading
import time

import ipywidgets as w
from IPython import get_ipython
from IPython.display import DisplayHandle, display

from workbench.core.errors import WorkbenchError
from workbench.core.records import RunRecord
from workbench.core.settings import in_voila
from workbench.jobs.job import Job
from workbench.spec.config import ComparisonConfig
from workbench.spec.preflight import preflight
from workbench.store.runs import RunStore
from workbench.widgets import kernel
from workbench.widgets.estimate import EstimateLine
from workbench.widgets.kernel import PageReloaded

TICK_S = 0.5  # how often the follower updates progress and status
POLL_S = 0.1  # how often a waiting cell looks whether the run ended


# Notebook 7 puts an output taller than 100 lines in a 24em (312 px) scroll box; a panel is an app, shown whole.
# (An HTML widget's <style> applies to the page; only cells holding a panel are affected.)
FULL_HEIGHT = """<style>
.jp-CodeCell.jp-mod-outputsScrolled:has(.workbench-panel) .jp-Cell-outputArea {
  max-height: none; overflow-y: visible; resize: none; }
.jp-CodeCell.jp-mod-outputsScrolled:has(.workbench-panel) .jp-Cell-outputArea::after { display: none; }
</style>"""

_LIVE: dict[tuple, "JobPanel"] = {}  # the panel following each job still training in this kernel, by its settings


def _error(message: str) -> str:
    return f"<span style='color:#b00'>error: {html.escape(message)}</span>"


class JobPanel(w.VBox):
    """Run and Stop, progress and status, the views of the latest run's results, then the controls (collapsible)."""

    SETTINGS_TITLE = "settings"

    def __init__(self, controls: list[w.Widget], results: list[w.Widget], store: RunStore | None):
        self.store = store or RunStore()
        self.run = w.Button(description="Run", button_style="primary", icon="play")
        self.stop = w.Button(description="Stop", icon="stop", disabled=True)
        self.progress = w.FloatProgress(min=0.0, max=1.0, layout={"width": "420px"})
        self.status = w.HTML()
        self.settings = w.Accordion([w.VBox(controls)], titles=(self.SETTINGS_TITLE,), selected_index=0)
        self.job: Job | None = None
        self._follower: threading.Thread | None = None
        self._recorded: queue.SimpleQueue[RunRecord] = queue.SimpleQueue()
        self._copies: list[DisplayHandle] = []  # the plain outputs a waiting cell left, reused by later runs
        self._copies_cell = None  # the cell request those outputs belong to
        self.copied = False  # whether they hold this run's final results
        self._started_at = time.monotonic()
        self._handed_over = False  # a newer panel with the same settings follows the job now
        self._ticking = threading.Lock()  # held by the follower for each tick: a handover happens between ticks
        self.run.on_click(lambda _: self._start())
        self.stop.on_click(lambda _: self.job and self.job.stop())
        self.estimate = EstimateLine(self._configs, self.store)
        super().__init__([w.HBox([self.run, self.stop, self.progress, self.estimate]), self.status, *results,
                          self.settings, w.HTML(FULL_HEIGHT)])
        self.add_class("workbench-panel")
        self.estimate.watch(controls)
        self._take_over()

    # What each panel fills in.
    def _configs(self) -> list[ComparisonConfig]:
        raise NotImplementedError

    def _clear(self) -> None:
        """Forget the previous run's results."""

    def _show(self, records: list[RunRecord]) -> None:
        """Epochs were just recorded (the records are live: the trainer keeps filling them)."""

    def _starting(self, job: Job) -> None:
        """The job is made but not started (its comparison ids are known); a `WorkbenchError` raised here shows in
        the status line, and nothing runs."""

    def _finished(self, job: Job) -> None:
        """The job ended; its comparisons are in the store."""

    def _final_outputs(self) -> list[dict]:
        """Mime bundles of the final figures and table."""
        return []

    def _adopt(self, other: "JobPanel") -> None:
        """Show what ``other`` (same settings, its views gone with a reloaded page) has drawn of its run so far."""

    def _key(self, configs: list[ComparisonConfig]) -> tuple:
        return (type(self).__name__, str(self.store.root.resolve()),
                json.dumps([c.to_dict() for c in configs], sort_keys=True, default=str))

    def _take_over(self) -> None:
        """A panel made with the settings of a run still training in this kernel (its cell run again after a page
        reload) follows that run instead of waiting for Run: progress, curves so far, and the rest as it comes."""
        try:
            key = self._key(self._configs())
        except WorkbenchError:
            return
        other = _LIVE.get(key)
        if other is None or other._follower is None or not other._follower.is_alive():
            return
        with other._ticking:  # between two of its ticks: no epoch it took from the queue is left undrawn here
            other._handed_over = True  # its follower stops at its next tick; the job and its queue move here
            self.job, self._recorded, self._started_at = other.job, other._recorded, other._started_at
            self._adopt(other)
            self.progress.value = other.progress.value
            self.status.value = other.status.value
        self.run.disabled, self.stop.disabled = True, False
        self.settings.selected_index = None
        self._follow_in_thread(key)

    def _start(self) -> None:
        if self._follower is not None and self._follower.is_alive():
            return
        if in_voila() and not kernel.clicked_in_page():
            self.status.value = "press <b>Run</b> to train (in this app nothing trains until asked)"
            return
        recorded = queue.SimpleQueue()
        try:
            configs = self._configs()
            preflight(configs)
            job = Job(configs, self.store, on_epoch=recorded.put, label=type(self).__name__)
            self._starting(job)
        except WorkbenchError as exc:
            self.status.value = _error(str(exc))
            return
        self.run.disabled, self.stop.disabled = True, False
        self.settings.selected_index = None  # the results come into view; the settings stay one click away
        self.progress.value = 0.0
        self.status.value = "starting…"
        for handle in self._copies:  # the copies belong to the run this one replaces
            handle.update({"text/plain": ""}, raw=True)
        self.copied = False
        self._clear()
        self._recorded, self._started_at = recorded, time.monotonic()
        self.job = job.start()
        self._follow_in_thread(self._key(configs))

    def _follow_in_thread(self, key: tuple) -> None:
        _LIVE[key] = self
        self._follower = threading.Thread(target=self._follow, args=(self.job, key), daemon=True,
                                          name=f"{type(self).__name__}-follower")
        self._follower.start()

    def _follow(self, job: Job, key: tuple | None = None) -> None:
        started, problem = self._started_at, None
        try:
            while True:
                with self._ticking:
                    if self._handed_over:
                        self.run.disabled = self.stop.disabled = True
                        self.status.value = "this run is followed by the panel of the cell run again"
                        return
                    running = self._tick(job, started)
                if not running:
                    break
                time.sleep(TICK_S)
            self._finished(job)
        except Exception as exc:  # noqa: BLE001 - a drawing problem must show, and must not leave Stop enabled
            job.stop()
            problem = f"could not show the results ({type(exc).__name__}: {exc})"
        if _LIVE.get(key) is self:
            del _LIVE[key]
        self.run.disabled, self.stop.disabled = False, True
        self.progress.value = job.progress
        if problem or job.state == "failed":
            self.status.value = _error(problem or job.error or "")
        else:
            self.status.value = html.escape(f"{job.message}  ·  {time.monotonic() - started:.0f} s")

    def _tick(self, job: Job, started: float) -> bool:
        """Apply the job's pending events and draw the epochs just recorded; whether the job still runs."""
        running = job.running
        records = []
        while not self._recorded.empty():
            records.append(self._recorded.get())
        if records:
            self._show(records)
        self.progress.value = job.progress
        self.status.value = html.escape(f"{job.message or 'loading data and model'}  ·  "
                                        f"{time.monotonic() - started:.0f} s")
        return running

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
        """Wait for the run in a notebook cell, the widgets staying live; then leave the results as outputs.

        Raises `PageReloaded` when the page is reloaded meanwhile: the run goes on, and running the cell again
        shows it (see the module's docstring)."""
        kernel.watch_clients()
        since = len(kernel.CLIENTS)
        own = (getattr(get_ipython(), "parent_header", None) or {}).get("header", {}).get("session", "")
        try:
            while self._follower is not None and self._follower.is_alive():
                if kernel.new_client(since, own):
                    raise PageReloaded("the page was reloaded while this cell waited; the run goes on in the "
                                       "background: run this cell again to see it")
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
        shell = get_ipython()
        if not outputs or not hasattr(shell, "kernel") or in_voila():
            return
        outputs = [{"text/html": "<i>Final results, kept as plain outputs so that the saved notebook shows them "
                                 "without a kernel:</i>"}, *outputs]
        cell = (getattr(shell, "parent_header", None) or {}).get("header", {}).get("msg_id")
        if cell != self._copies_cell and not self.copied:  # another cell waits now (run again after a reload)
            self._copies, self._copies_cell = [], cell
        if len(self._copies) == len(outputs):
            for handle, bundle in zip(self._copies, outputs):
                handle.update(bundle, raw=True)
        else:
            self._copies = [display(bundle, raw=True, display_id=True) for bundle in outputs]
        self.copied = True
