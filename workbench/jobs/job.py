"""Comparisons and sweeps running in the background, so a UI stays responsive.

A `Job` trains its comparisons one after another, reports progress, and stops cleanly when
asked: the run in progress is saved as interrupted with its finished epochs. It works in one
of two places:

* a thread (notebook widgets): ``on_epoch`` callbacks can update live figures directly;
* a worker process (the dashboard): Streamlit re-renders the page every second, and that
  Python work would otherwise compete with the training loop for the GIL (measured: 8x
  slower epochs).

What runs inside the worker is `jobs.worker`; the warm worker kept for the next job is `jobs.pool`.

Either way the worker reports through the same events and results are read back from the run
store, so the UI code is the same. `jobs.board` puts one server's jobs in the run folder's queue.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from typing import Callable

from workbench.core.records import RunRecord
from workbench.experiments.comparisons import Comparison, group_comparisons
from workbench.jobs.pool import take_worker
from workbench.jobs.queue import JobQueue
from workbench.jobs.worker import execute
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore, new_id

WAITING = "waiting for a training slot"


class Job:
    """One or more comparisons (a sweep is several) trained in order in the background.

    ``owner`` is whoever launched it (a UI's session id) and ``name`` what they call themselves,
    ``settings`` what they asked for in the UI's own terms and ``sweep`` (``sweep2``) the swept options, if any:
    a reloaded page can show them again.
    """

    def __init__(self, configs: list[ComparisonConfig], store: RunStore,
                 on_epoch: Callable[[RunRecord], None] | None = None, label: str = "comparison",
                 worker_process: bool = False, owner: str | None = None, settings: dict | None = None,
                 sweep: str | None = None, name: str = "", sweep2: str | None = None):
        if worker_process and on_epoch is not None:
            raise ValueError("on_epoch callbacks need a thread job; a process job reports through the store")
        self.configs, self.store, self.label = configs, store, label
        self.owner, self.name, self.settings, self.sweep, self.sweep2 = owner, name, settings or {}, sweep, sweep2
        self.state = "queued"  # queued, running, completed, interrupted, failed, cancelled
        self.job_id: str | None = None  # its row in the run folder's queue, once a board has queued it
        self.queue: JobQueue | None = None
        self.error: str | None = None
        self.message = WAITING
        self.stopped_by: str | None = None  # who pressed Stop when it was not the page's own person
        self.progress = 0.0
        self.comparison_ids = [new_id("c-") for _ in configs]  # named now, so a UI can show them at once
        self.current = 0  # index of the comparison in training
        self._runs_total = sum(2 * len(c.seeds) for c in configs)
        self._runs_started = 0
        self._fractions: dict[str, float] = {}  # run id -> its share done, for each run that trains (not copies)
        self._events: queue.Queue = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._stop = threading.Event()
        self.state_lock = threading.Lock()  # a Stop and the board's start never cross
        if worker_process:
            self._worker = threading.Thread(target=self._read_worker, name=f"workbench-{label}", daemon=True)
        else:
            args = (configs, self.comparison_ids, str(store.root), self._stop, self._events, on_epoch)
            self._worker = threading.Thread(target=execute, args=args, name=f"workbench-{label}", daemon=True)
        self._in_process = worker_process

    def start(self, threads: int | None = None) -> "Job":
        """Train now (a process job with ``threads`` torch threads, or the worker's default)."""
        self.state, self.message = "running", "starting"
        if self._in_process:
            self._process = take_worker()
            request = {"configs": [c.to_dict() for c in self.configs], "comparison_ids": self.comparison_ids,
                       "runs_dir": str(self.store.root), "threads": threads}
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        self._worker.start()
        return self

    def stop(self, by: str | None = None) -> None:
        """Stop training (the run in progress is saved as interrupted), or leave the queue if still waiting.
        ``by``: who asked, when not the job's own person (``"the teacher"``), for the page to say."""
        self.stopped_by = by or self.stopped_by
        with self.state_lock:
            if self.state == "queued":
                self.state, self.message = "cancelled", "stopped before it started"
                if self.queue is not None:
                    self.queue.finish(self.job_id, "cancelled")  # the line moves up now, not at the board's next look
                return
        self._stop.set()
        if self._process is not None:
            try:
                self._process.stdin.write("stop\n")
                self._process.stdin.flush()
            except (OSError, ValueError):
                pass  # the worker has already ended

    def wait(self, timeout: float | None = None) -> "Job":
        """Wait for a started job to end (a queued job waits for its board to start it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.state == "queued" and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.05)
        if self._worker.ident is not None:
            self._worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._drain()
        return self

    @property
    def stopping(self) -> bool:
        """Asked to stop (it may still be saving its run in progress)."""
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        self._drain()
        return self.state == "running"

    @property
    def active(self) -> bool:
        """Waiting in line or training."""
        return self.state == "queued" or self.running

    @property
    def current_comparison(self) -> str:
        return self.comparison_ids[self.current]

    @property
    def results(self) -> list[Comparison]:
        """The comparisons this job has recorded so far, read back from the run store."""
        self._drain()
        rows, _ = self.store.list_runs(comparison_id=self.comparison_ids)
        recorded = group_comparisons([self.store.load(row["run_id"]) for row in rows])
        return [recorded[c] for c in self.comparison_ids if c in recorded]

    def _read_worker(self) -> None:
        """Carry a worker process's event lines into the queue until it exits."""
        for line in self._process.stdout:
            self._events.put(tuple(json.loads(line)))
        self._process.wait()

    def _drain(self) -> None:
        """Apply pending events; notice a worker that ended without a word."""
        while True:
            try:
                self._apply(self._events.get_nowait())
            except queue.Empty:
                break
        if self.state == "running" and self._worker.ident is not None and not self._worker.is_alive():
            while not self._events.empty():
                self._apply(self._events.get_nowait())
            if self.state == "running":
                code = self._process.returncode if self._process is not None else None
                self.state = "failed"
                self.error = self.message = (f"the worker process ended unexpectedly (exit status {code}); "
                                             "the finished epochs were saved")
                fail_unfinished(self.store, self.comparison_ids, self.error)

    def _apply(self, event: tuple) -> None:
        kind = event[0]
        if kind == "run":  # ("run", comparison id[, run id: it trains, and says how far it is])
            self._runs_started += 1
            self.current = max(self.current, self.comparison_ids.index(event[1]))
            if len(event) > 2:
                self._fractions[event[2]] = 0.0
        elif kind == "phase":  # before a run's first step: what it is doing meanwhile
            self.message = event[1]
        elif kind == "progress":  # ("progress", share of the run done, words, run id): two runs may train at once
            self._fractions[event[3]] = event[1]
            copied = self._runs_started - len(self._fractions)
            self.progress = min(1.0, (copied + sum(self._fractions.values())) / max(self._runs_total, 1))
            self.message = event[2]
        elif kind == "end":
            self.state, self.error = event[1], event[2]
            self.message = {"completed": "done", "interrupted": "stopped; finished epochs were saved"}.get(
                event[1], event[2])
            if event[1] == "completed":
                self.progress = 1.0


def fail_unfinished(store: RunStore, comparison_ids: list[str], error: str) -> None:
    """Records left "running" by a worker that died are saved as failed, keeping their finished epochs."""
    rows, _ = store.list_runs(comparison_id=comparison_ids, status="running")
    for row in rows:
        record = store.load(row["run_id"])
        record.status, record.error = "failed", error
        store.save(record)
