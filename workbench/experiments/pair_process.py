"""The scratch run's own process, when a comparison's two runs train at once (`experiments.pairs` starts it).

It reads its run and the decoded images from stdin, reports every hook call as a pickled event on its stdout
(the other process of the same program reads them; nothing else does), and stops when its stdin ends: a Stop
in the other process, or that process gone.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading

import torch

from workbench.core.errors import WorkbenchError
from workbench.core.records import RunRecord
from workbench.experiments.reuse import fingerprint
from workbench.store.runs import RunStore
from workbench.training.cost import partnered
from workbench.training.hooks import Hooks
from workbench.training.train import StopRequested, train_run


class _Reporting(Hooks):
    """In the scratch process: every call becomes an event for the process that started it."""

    def __init__(self, events, stop: threading.Event):
        self.events, self.stop = events, stop

    def _put(self, *event) -> None:
        pickle.dump(event, self.events)
        self.events.flush()

    def on_prepare(self, what: str) -> None:
        self._put("prepare", what)

    def on_start(self, record: RunRecord, steps_per_epoch: int) -> None:
        self._put("start", record, steps_per_epoch)

    def on_step(self, record: RunRecord, epoch: int, step: int, loss: float) -> None:
        self._put("step", epoch, step, loss)

    def on_epoch(self, record: RunRecord) -> None:
        self._put("epoch", record)

    def on_end(self, record: RunRecord) -> None:
        self._put("end", record)

    def should_stop(self) -> bool:
        return self.stop.is_set()


def serve() -> None:
    """The scratch process: read its run from stdin, train it, and say how it ended (the exception itself, where
    it can travel); stdin's end (a Stop, or the other process gone) stops it."""
    events = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the engine prints goes to stderr, not into the events
    try:
        config, runs_dir, data, comparison_id, threads = pickle.load(sys.stdin.buffer)
    except EOFError:
        return  # stopped (or the first process gone) before its run was handed over: nothing to train
    stop = threading.Event()
    threading.Thread(target=_stop_at_end_of_input, args=(stop,), daemon=True).start()
    torch.set_num_threads(threads)
    reporting = _Reporting(events, stop)
    store = RunStore(runs_dir)
    try:
        with partnered(os.getppid()):
            record = train_run(config, store, data=data, role="scratch", comparison_id=comparison_id,
                               hooks=reporting, save_checkpoint=True)
        record.fingerprint = fingerprint(config)
        record.environment["trained_at_once_with"] = "transfer"
        store.save(record)
        reporting._put("done", record)
    except BaseException as exc:  # noqa: BLE001 - the other process raises it, once its own run has ended
        reporting._put("raised", _portable(exc))


def _stop_at_end_of_input(stop: threading.Event) -> None:
    """Read stdin's descriptor itself (a thread blocked in ``sys.stdin`` would hold its lock at exit) to its end."""
    while os.read(0, 4096):
        pass
    stop.set()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives the trip between processes, else a WorkbenchError saying what it was."""
    if isinstance(exc, (StopRequested, KeyboardInterrupt)):
        return StopRequested() if isinstance(exc, StopRequested) else KeyboardInterrupt()
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to travel is answered the same way
        return WorkbenchError(f"{type(exc).__name__}: {exc}")
