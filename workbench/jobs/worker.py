"""What runs inside a job's worker: train the comparisons, report each step as an event, stop when asked.

The same `execute` runs in a thread (notebook widgets, whose ``on_epoch`` callbacks update live figures) and
in a worker process (the dashboard: `serve`). In a process, the job and its events travel as JSON lines over
the worker's stdin and stdout; a line on stdin (or its closing) asks it to stop.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from typing import Callable

from workbench.core.errors import WorkbenchError
from workbench.core.metrics import busy_now
from workbench.core.records import RunRecord
from workbench.experiments.runner import run_comparisons
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore
from workbench.training.cost import BusyWatch
from workbench.training.train import Hooks, StopRequested, train_run


class _ReportingHooks(Hooks):
    """Turns training callbacks into job events; asks to stop when the job's flag is set. Every message says what
    happens now, down to the step, and that the machine is busy as soon as the cost meter sees it."""

    def __init__(self, stop, events, on_epoch: Callable[[RunRecord], None] | None):
        self.stop, self.events, self.on_epoch_callback = stop, events, on_epoch
        self.sizes: dict[str, tuple[int, int]] = {}  # run id -> (steps per epoch, epochs), of each run training
        self.lines: dict[str, str] = {}  # run id -> where it is, for the runs training now (two, side by side)
        self.busy = BusyWatch(every_s=1.5)

    def _said(self, text: str) -> str:
        busy = busy_now(self.busy.poll())
        return f"{text} · {busy}" if busy else text

    def on_prepare(self, what: str) -> None:
        self.events.put(("phase", self._said(what + "…")))

    def on_start(self, record: RunRecord, steps_per_epoch: int) -> None:
        if record.reused_from:  # nothing to train: the run counts as done at once
            self.events.put(("run", record.comparison_id))
            return
        self.sizes[record.run_id] = (steps_per_epoch, RunConfig.of(record).epochs)
        self.events.put(("run", record.comparison_id, record.run_id))

    def on_step(self, record: RunRecord, epoch: int, step: int, loss: float) -> None:
        steps, epochs = self.sizes[record.run_id]
        self.lines[record.run_id] = (f"{record.role} seed {RunConfig.of(record).seed}: epoch {epoch}/{epochs}, "
                                     f"step {step}/{steps}")
        self.events.put(("progress", ((epoch - 1) * steps + step) / (steps * epochs),
                         self._said(" · ".join(self.lines.values())), record.run_id))

    def on_end(self, record: RunRecord) -> None:
        self.lines.pop(record.run_id, None)

    def on_epoch(self, record: RunRecord) -> None:
        if self.on_epoch_callback:
            self.on_epoch_callback(record)

    def should_stop(self) -> bool:
        return self.stop.is_set()


def execute(configs: list[ComparisonConfig], comparison_ids: list[str], runs_dir: str, stop, events,
             on_epoch: Callable[[RunRecord], None] | None = None) -> None:
    """The worker: train every comparison, then report how it ended."""
    hooks = _ReportingHooks(stop, events, on_epoch)
    try:
        run_comparisons(configs, RunStore(runs_dir), comparison_ids=comparison_ids, hooks_for=lambda role, seed: hooks,
                        keep_weights=len(configs) == 1)  # one comparison: the views inside its networks follow
        events.put(("end", "completed", None))
    except StopRequested:
        events.put(("end", "interrupted", None))
    except WorkbenchError as exc:
        events.put(("end", "failed", str(exc)))
    except Exception as exc:  # noqa: BLE001 - a background worker must report, not vanish
        events.put(("end", "failed", f"{type(exc).__name__}: {exc}"))


class _Lines:
    """A worker process's event queue: one JSON line per event, on the stream the server reads. Where the server
    has gone (the stream broke), the job stops at its next step and keeps what it trained: nobody hears the rest."""

    def __init__(self, stream, stop: threading.Event):
        self.stream, self.stop = stream, stop

    def put(self, event: tuple) -> None:
        try:
            self.stream.write(json.dumps(event) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self.stop.set()
            self.stream = open(os.devnull, "w")  # (and no second error when the broken one is closed at exit)


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
    configs = [ComparisonConfig.from_dict(c) for c in request["configs"]]
    execute(configs, request["comparison_ids"], request["runs_dir"], stop, _Lines(events, stop))
