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
store, so the UI code is the same. A `JobBoard` holds one server's jobs: one trains at a time,
and each remembers who launched it (``owner``), so a UI shows its errors and Stop button to
that person only.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from typing import Callable

from workbench.config import ComparisonConfig, RunConfig
from workbench.errors import WorkbenchError
from workbench.experiment import Comparison, group_comparisons, run_comparison
from workbench.records import RunRecord
from workbench.runs import RunStore, new_id
from workbench.train import Hooks, StopRequested, train_run

WORKER_COMMAND = [sys.executable, "-c", "from workbench.jobs import serve; serve()"]


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
                           comparison_id=comparison_id)
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
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    configs = [ComparisonConfig(RunConfig.from_dict(c["transfer"]), c["scratch_lr"], c["seeds"])
               for c in request["configs"]]
    _execute(configs, request["comparison_ids"], request["runs_dir"], stop, _Lines(events))


_spare: tuple[subprocess.Popen, dict] | None = None
_spare_lock = threading.Lock()


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)


def _ready(spare: tuple[subprocess.Popen, dict] | None) -> bool:
    """A prepared worker can take a job if it is alive and was started with the environment we have now."""
    return spare is not None and spare[0].poll() is None and spare[1] == dict(os.environ)


def prepare_worker() -> None:
    """Start the next job's worker now, while nothing trains, so its warm-up is done before the click."""
    global _spare
    with _spare_lock:
        if not _ready(_spare):
            if _spare is not None:
                _spare[0].stdin.close()  # it ends when its input does
            _spare = (_start_worker(), dict(os.environ))


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

    ``owner`` is whoever launched it (a UI's session id), ``settings`` what they asked for in the
    UI's own terms and ``sweep`` the swept option, if any: a reloaded page can show them again.
    """

    def __init__(self, configs: list[ComparisonConfig], store: RunStore,
                 on_epoch: Callable[[RunRecord], None] | None = None, label: str = "comparison",
                 in_process: bool = False, owner: str | None = None, settings: dict | None = None,
                 sweep: str | None = None):
        if in_process and on_epoch is not None:
            raise ValueError("on_epoch callbacks need a thread job; a process job reports through the store")
        self.configs, self.store, self.label = configs, store, label
        self.owner, self.settings, self.sweep = owner, settings or {}, sweep
        self.state = "queued"  # queued, running, completed, interrupted, failed
        self.error: str | None = None
        self.message = "starting"
        self.progress = 0.0
        self.comparison_ids = [new_id("c-") for _ in configs]  # named now, so a UI can show them at once
        self.current = 0  # index of the comparison in training
        self._runs_total = sum(2 * len(c.seeds) for c in configs)
        self._runs_started = 0
        self._events: queue.Queue = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._stop = threading.Event()
        if in_process:
            self._worker = threading.Thread(target=self._read_worker, name=f"workbench-{label}", daemon=True)
        else:
            args = (configs, self.comparison_ids, str(store.root), self._stop, self._events, on_epoch)
            self._worker = threading.Thread(target=_execute, args=args, name=f"workbench-{label}", daemon=True)
        self._in_process = in_process

    def start(self) -> "Job":
        self.state = "running"
        if self._in_process:
            self._process = _take_worker()
            request = {"configs": [c.to_dict() for c in self.configs], "comparison_ids": self.comparison_ids,
                       "runs_dir": str(self.store.root)}
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        self._worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._process is not None:
            try:
                self._process.stdin.write("stop\n")
                self._process.stdin.flush()
            except (OSError, ValueError):
                pass  # the worker has already ended

    def wait(self, timeout: float | None = None) -> "Job":
        self._worker.join(timeout)
        self._drain()
        return self

    @property
    def running(self) -> bool:
        self._drain()
        return self.state == "running"

    @property
    def current_comparison(self) -> str:
        return self.comparison_ids[self.current]

    @property
    def results(self) -> list[Comparison]:
        """The comparisons this job has recorded so far, read back from the run store."""
        self._drain()
        recorded = group_comparisons(self.store.scan()[0])
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
                self.state, self.message = "interrupted", "the worker ended unexpectedly; finished epochs were saved"

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


class JobBoard:
    """One server's jobs: one trains at a time (a queue can come later); each keeps its owner."""

    def __init__(self):
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    def launch(self, job: Job) -> Job:
        with self._lock:
            if self.running() is not None:
                raise WorkbenchError("a job is already training; wait for it to finish or stop it first")
            self._jobs.append(job.start())
        return job

    def running(self) -> Job | None:
        return next((job for job in reversed(self._jobs) if job.running), None)

    def latest(self, owner: str | None = None) -> Job | None:
        """The newest job (of ``owner``, if given), running or ended."""
        return next((job for job in reversed(self._jobs) if owner is None or job.owner == owner), None)
