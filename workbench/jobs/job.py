"""Comparisons and sweeps running in the background, so a UI stays responsive.

A `Job` trains its comparisons one after another, reports progress, and stops cleanly when
asked: the run in progress is saved as interrupted with its finished epochs. It works in one
of two places:

* a thread (notebook widgets): ``on_epoch`` callbacks can update live figures directly;
* a worker process (the dashboard): Streamlit re-renders the page every second, and that
  Python work would otherwise compete with the training loop for the GIL (measured: 8x
  slower epochs).

The worker is a plain ``python -c`` process, not a multiprocessing child: multiprocessing's
spawn re-imports the parent's main module, and under Streamlit that is the app itself (each
job re-ran the page in the worker: a 6-7 s dead start and a hundred warnings). One worker is
started ahead of time (`prepare_worker`) and waits with the engine imported, so a job's first
epoch follows the click within about a second. The job and its events travel as JSON lines
over the worker's stdin and stdout; a line on stdin (or its closing) asks it to stop.

Either way the worker reports through the same events and results are read back from the run
store, so the UI code is the same. A `JobBoard` holds one server's jobs in the run folder's queue
(`workbench.jobs.queue`, shared with the CLI): at most K train at once, the others wait in line,
and each remembers who launched it (``owner``, a display ``name``), so a UI shows its position,
errors and Stop button to that person only.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

from workbench.core import settings
from workbench.core.errors import WorkbenchError
from workbench.core.records import RunRecord
from workbench.experiments.comparisons import Comparison, group_comparisons, run_comparison
from workbench.jobs.queue import JobQueue
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore, new_id
from workbench.training.train import Hooks, StopRequested, train_run

WORKER_COMMAND = [sys.executable, "-c", "from workbench.jobs.job import serve; serve()"]


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


def _execute(configs: list[ComparisonConfig], comparison_ids: list[str], runs_dir: str, stop, events,
             on_epoch: Callable[[RunRecord], None] | None = None) -> None:
    """The worker: train every comparison, then report how it ended."""
    hooks = _ReportingHooks(stop, events, on_epoch)
    try:
        for config, comparison_id in zip(configs, comparison_ids):
            run_comparison(config, RunStore(runs_dir), hooks_for=lambda role, seed: hooks,
                           comparison_id=comparison_id, keep_weights=len(configs) == 1)  # one: its views follow
        events.put(("end", "completed", None))
    except StopRequested:
        events.put(("end", "interrupted", None))
    except WorkbenchError as exc:
        events.put(("end", "failed", str(exc)))
    except Exception as exc:  # noqa: BLE001 - a background worker must report, not vanish
        events.put(("end", "failed", f"{type(exc).__name__}: {exc}"))


# --- the worker process ---------------------------------------------------------------------------


class _Lines:
    """A worker process's event queue: one JSON line per event, on the stream the server reads."""

    def __init__(self, stream):
        self.stream = stream

    def put(self, event: tuple) -> None:
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()


def warm_up() -> None:
    """One throwaway epoch of a tiny run, its record in a temporary folder. The job that follows pays no
    first-use costs (imports, the weights file, kernel set-up): its first epoch comes about twice as soon,
    and the transfer run, always first, no longer carries them in its measured time."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            train_run(RunConfig(dataset="digits:0-1", train_per_class=2, image_size=32, epochs=1, batch_size=4,
                                max_eval_per_class=2), RunStore(folder))
        except WorkbenchError:
            pass  # a machine where even this cannot run: the job will say why in its own words


def serve() -> None:
    """A worker process: warm up, wait for one job on stdin, report on stdout; stop on a line or at EOF."""
    events = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything the engine prints goes to the server's log, not into the event stream
    warm_up()
    line = sys.stdin.readline()
    if not line:
        return  # the server went away before it needed this worker
    request = json.loads(line)
    if request.get("threads"):
        import torch

        torch.set_num_threads(request["threads"])  # the cores shared out between the jobs training at once
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    configs = [ComparisonConfig(RunConfig.from_dict(c["transfer"]), c["scratch_lr"], c["seeds"])
               for c in request["configs"]]
    _execute(configs, request["comparison_ids"], request["runs_dir"], stop, _Lines(events))


_spare: tuple[subprocess.Popen, dict] | None = None
_spare_lock = threading.Lock()


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)


# What a worker reads from its environment: weights and caches, threads, devices, the workbench's own
# settings (the run folder goes in the request). Other variables change under a server without mattering
# (pytest's current test, OpenMP's KMP_* set by importing torch): comparing those started a new worker,
# with its warm-up epoch, on every page run.



def _ready(spare: tuple[subprocess.Popen, dict] | None) -> bool:
    """A prepared worker can take a job if it is alive and was started with the settings we have now."""
    return spare is not None and spare[0].poll() is None and spare[1] == settings.worker_environment()


def prepare_worker() -> None:
    """Start the next job's worker now, while nothing trains, so its warm-up is done before the click."""
    global _spare
    with _spare_lock:
        if not _ready(_spare):
            if _spare is not None:
                _spare[0].stdin.close()  # it ends when its input does
            _spare = (_start_worker(), settings.worker_environment())


def _take_worker() -> subprocess.Popen:
    """The prepared worker if it is ready, else a new one."""
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if _ready(spare):
        return spare[0]
    if spare is not None:
        spare[0].stdin.close()
    return _start_worker()


# --- jobs -----------------------------------------------------------------------------------------


class Job:
    """One or more comparisons (a sweep is several) trained in order in the background.

    ``owner`` is whoever launched it (a UI's session id) and ``name`` what they call themselves,
    ``settings`` what they asked for in the UI's own terms and ``sweep`` (``sweep2``) the swept options, if any:
    a reloaded page can show them again.
    """

    def __init__(self, configs: list[ComparisonConfig], store: RunStore,
                 on_epoch: Callable[[RunRecord], None] | None = None, label: str = "comparison",
                 in_process: bool = False, owner: str | None = None, settings: dict | None = None,
                 sweep: str | None = None, name: str = "", sweep2: str | None = None):
        if in_process and on_epoch is not None:
            raise ValueError("on_epoch callbacks need a thread job; a process job reports through the store")
        self.configs, self.store, self.label = configs, store, label
        self.owner, self.name, self.settings, self.sweep, self.sweep2 = owner, name, settings or {}, sweep, sweep2
        self.state = "queued"  # queued, running, completed, interrupted, failed, cancelled
        self.job_id: str | None = None  # its row in the run folder's queue, once a board has queued it
        self.queue: JobQueue | None = None
        self.error: str | None = None
        self.message = "waiting for a training slot"
        self.progress = 0.0
        self.comparison_ids = [new_id("c-") for _ in configs]  # named now, so a UI can show them at once
        self.current = 0  # index of the comparison in training
        self._runs_total = sum(2 * len(c.seeds) for c in configs)
        self._runs_started = 0
        self._events: queue.Queue = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._stop = threading.Event()
        self.state_lock = threading.Lock()  # a Stop and the board's start never cross
        if in_process:
            self._worker = threading.Thread(target=self._read_worker, name=f"workbench-{label}", daemon=True)
        else:
            args = (configs, self.comparison_ids, str(store.root), self._stop, self._events, on_epoch)
            self._worker = threading.Thread(target=_execute, args=args, name=f"workbench-{label}", daemon=True)
        self._in_process = in_process

    def start(self, threads: int | None = None) -> "Job":
        """Train now (a process job with ``threads`` torch threads, or the worker's default)."""
        self.state, self.message = "running", "starting"
        if self._in_process:
            self._process = _take_worker()
            request = {"configs": [c.to_dict() for c in self.configs], "comparison_ids": self.comparison_ids,
                       "runs_dir": str(self.store.root), "threads": threads}
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        self._worker.start()
        return self

    def stop(self) -> None:
        """Stop training (the run in progress is saved as interrupted), or leave the queue if still waiting."""
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
        if kind == "run":
            self._runs_started += 1
            self.current = max(self.current, self.comparison_ids.index(event[1]))
        elif kind == "progress":
            self.progress = min(1.0, (self._runs_started - 1 + event[1]) / max(self._runs_total, 1))
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


class JobBoard:
    """One server's jobs, queued in its run folder: at most ``max_jobs`` train at once, in the order launched.

    A thread starts each queued job when the queue gives it a slot and frees the slot when it ends;
    the CLI's jobs in the same folder wait in the same line.
    """

    def __init__(self, root, max_jobs: int | None = None, poll_s: float = 0.2):
        self.queue, self.max_jobs = JobQueue(root), max_jobs or settings.max_jobs()
        self.poll_s = poll_s
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._scheduler: threading.Thread | None = None
        self._ended: set[str] = set()

    def launch(self, job: Job) -> Job:
        """Put ``job`` in line; it starts as soon as a slot is free (at once, on an idle board)."""
        job.job_id = self.queue.add(job.owner or "", job.name, job.label, job.comparison_ids)
        job.queue = self.queue
        with self._lock:
            self._jobs.append(job)
            if self._scheduler is None or not self._scheduler.is_alive():
                self._scheduler = threading.Thread(target=self._schedule, name="workbench-queue", daemon=True)
                self._scheduler.start()
        self.tick()
        return job

    def tick(self) -> None:
        """Start whoever the queue lets in; free the slot (or the place in line) of each job that ended."""
        with self._lock:
            for job in self._jobs:
                if job.job_id is None or job.job_id in self._ended:
                    continue
                with job.state_lock:
                    if job.state == "queued":
                        if self.queue.try_start(job.job_id, self.max_jobs):
                            job.start(settings.threads_per_share(self.max_jobs))
                            if any(j.state == "queued" for j in self._jobs):
                                prepare_worker()  # the next in line starts warm too
                        continue
                if not job.running:
                    self.queue.finish(job.job_id, job.state, job.error)
                    self._ended.add(job.job_id)

    def _schedule(self) -> None:
        while any(job.active for job in list(self._jobs)):
            self.tick()
            time.sleep(self.poll_s)
        self.tick()

    def running(self) -> Job | None:
        """The newest job in training."""
        return next((job for job in reversed(self._jobs) if job.running), None)

    def training(self) -> list[Job]:
        return [job for job in self._jobs if job.running]

    def active(self, owner: str | None = None) -> Job | None:
        """The newest job of ``owner`` (of anyone, if None) waiting or training."""
        return next((job for job in reversed(self._jobs) if (owner is None or job.owner == owner) and job.active),
                    None)

    def latest(self, owner: str | None = None) -> Job | None:
        """The newest job (of ``owner``, if given), waiting, running or ended."""
        return next((job for job in reversed(self._jobs) if owner is None or job.owner == owner), None)

    def find(self, job_id: str) -> Job | None:
        return next((job for job in self._jobs if job.job_id == job_id), None)

    def position(self, job: Job) -> int | None:
        return self.queue.position(job.job_id) if job.state == "queued" and job.job_id else None
