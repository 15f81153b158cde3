"""A comparison's two runs side by side, for real: trained at once, so both learning curves grow from the start.

On a machine with cores to share, the transfer run trains in this process and its scratch twin in a second one
(a fresh Python, not a fork: a forked torch can hang; and not multiprocessing's spawn, which would run again the
main script of a user who called `run_comparison` without a ``__main__`` guard), each with half of this
process's threads. Whether that ends sooner than one
run after the other depends on how much this network gains from a second thread and on the second process's
start-up, so it is weighed, not assumed: the kept calibrations at both thread counts (`experiments.run_time`).
The scratch process tells this one what it does as events (pickled on its stdout: the two are one program,
nothing from outside reads them), and this one hands them to the scratch run's hooks
between its own steps: every face hears both runs from one thread, as it always did, and a Stop reaches both.
Each run keeps its own costs (its process's CPU seconds; the other run counts as load, as any program would).
"""

from __future__ import annotations

import pickle
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass

import torch

from workbench.core import settings
from workbench.core.errors import WorkbenchError
from workbench.core.metrics import busy_now
from workbench.core.records import RunRecord
from workbench.data.sources import DataBundle
from workbench.experiments.reuse import fingerprint
from workbench.experiments.run_time import data_cost, run_seconds
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore
from workbench.training.calibrate import startup_s, step_flops
from workbench.training.cost import others_share_now, partnered
from workbench.training.hooks import Hooks
from workbench.training.train import train_run

MIN_SCRATCH_FLOPS = 2e10  # a scratch run of fewer training FLOPs takes a few seconds: never worth a process
WAIT_S = 0.2  # how often this process looks at the scratch run's events once its own run has ended


def split_threads(threads: int) -> tuple[int, int]:
    """(this process's threads, the scratch process's) out of ``threads``."""
    return threads - threads // 2, threads // 2


@dataclass
class PairSeconds:
    """The pair's expected seconds one after the other, and at once (each run on its share of the threads)."""

    in_turn: float
    at_once: float  # when the later of the two ends, the scratch process's start-up included
    transfer: float  # each run's own seconds at once
    scratch: float


def pair_seconds(transfer: RunConfig, scratch: RunConfig, threads: int, measure: bool = True) -> PairSeconds | None:
    """The pair's seconds with ``threads`` threads, from calibrations at both thread counts; None without kept
    ones (``measure`` False)."""
    mine, theirs = split_threads(threads)
    found = [run_seconds(c, t, measure) for c, t in ((transfer, threads), (scratch, threads),
                                                     (transfer, mine), (scratch, theirs))]
    if any(f is None for f in found):
        return None
    (turn_t, _), (turn_s, _), (both_t, _), (both_s, _) = found
    return PairSeconds(turn_t + turn_s, max(both_t, startup_s() + both_s), both_t, both_s)


def pairing(transfer: RunConfig, scratch: RunConfig, threads: int | None = None,
            measure: bool = False, load: bool = False) -> PairSeconds | None:
    """The pair's seconds where it trains at once here, else None: `settings.pair_mode`, and for "auto" where the
    calibrations say at once ends no later, or (``load``) where other programs load the CPU now. Only kept
    calibrations unless ``measure``: a run never waits for one (the faces measure them when they show the
    estimate before Launch). A small scratch run, fewer than two threads to share, or a GPU: always in turn.
    At once without calibrations: seconds of 0."""
    threads = threads or torch.get_num_threads()
    mode = settings.pair_mode()
    if mode == "in-turn" or threads < 2 or transfer.device == "cuda" or torch.cuda.is_available():
        return None
    try:
        if mode == "auto":
            data = data_cost(scratch)
            per_image = step_flops(scratch.backbone, scratch.image_size, data.classes, 0, 0)
            if data.sizes[0] * scratch.epochs * per_image < MIN_SCRATCH_FLOPS:
                return None
        seconds = pair_seconds(transfer, scratch, threads, measure) if mode == "auto" or measure else None
    except WorkbenchError:
        seconds = None
    if seconds is not None and seconds.at_once <= seconds.in_turn:
        return seconds
    if mode == "together" or load and _loaded():
        return seconds or PairSeconds(0.0, 0.0, 0.0, 0.0)
    return None


def _loaded() -> bool:
    """Whether other programs use the CPU now (0.3 s of sampling: only where the calibrations say "in turn").
    Calibrations are taken on a quiet machine; beside another multi-threaded program, a run on all the threads
    loses far more than two one-thread runs do (`benchmarks/pair.py` under a 2-thread load: 142 s in turn, 53 s
    at once)."""
    return busy_now(others_share_now()) is not None


def together(transfer: RunConfig, scratch: RunConfig, threads: int | None = None) -> bool:
    """Whether the pair trains at once here, now (`pairing`: kept calibrations, and the load at this moment)."""
    return pairing(transfer, scratch, threads, load=True) is not None


def train_pair(transfer: RunConfig, scratch: RunConfig, store: RunStore, data: DataBundle, comparison_id: str,
               transfer_hooks: Hooks, scratch_hooks: Hooks) -> list[RunRecord]:
    """Train both runs at once (transfer here, scratch in a process of its own); their records, transfer first.

    Ends as the two would in turn: a run that failed or was stopped raises here once both have ended, each
    saved with its finished epochs. A Stop or Ctrl-C in this process stops the scratch run too."""
    threads = torch.get_num_threads()
    mine, theirs = split_threads(threads)
    child = subprocess.Popen([sys.executable, "-c", "from workbench.experiments.pair_process import serve; serve()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    relay = _Relay(child, scratch_hooks)
    relay.send((scratch, str(store.root), data, comparison_id, theirs))
    torch.set_num_threads(mine)  # from the start: the record, and the peak its hardware use is measured against, say so
    with partnered(child.pid):  # the other run's work is not "the machine was busy", here or in a job's line
        try:
            record = train_run(transfer, store, data=data, role="transfer", comparison_id=comparison_id,
                               hooks=_Listening(transfer_hooks, relay), save_checkpoint=True)
        except BaseException:
            relay.ask_to_stop()  # the scratch run ends too, saved as interrupted, before this one's error goes on
            relay.wait_for_end()
            raise
        finally:
            torch.set_num_threads(threads)
        record.fingerprint = fingerprint(transfer)  # set once completed: only a completed run is worth finding
        record.environment["trained_at_once_with"] = "scratch"
        store.save(record)
        relay.wait_for_end()
    if relay.raised is not None:
        raise relay.raised
    if relay.record is None or relay.record.status != "completed":
        raise WorkbenchError(f"the scratch run's process ended without its result (exit code {child.returncode}); "
                             "its finished epochs were saved")
    return [record, relay.record]


class _Relay:
    """The scratch process's events, handed to the scratch run's hooks in this process's thread."""

    def __init__(self, child: subprocess.Popen, hooks: Hooks):
        self.child, self.hooks = child, hooks
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.record: RunRecord | None = None  # the scratch run as last heard of; its final record once "done"
        self.raised: BaseException | None = None
        self.ended = False
        threading.Thread(target=self._read, daemon=True, name="workbench-scratch-events").start()

    def _read(self) -> None:
        try:
            while True:
                self.events.put(pickle.load(self.child.stdout))
        except (EOFError, OSError, pickle.UnpicklingError):
            self.events.put(("gone",))

    def send(self, request: tuple) -> None:
        """The scratch run and its data, written while this process trains (the pipe holds 64 KB: the images
        wait for the other process to have started and read them)."""
        def write() -> None:
            try:
                pickle.dump(request, self.child.stdin)
                self.child.stdin.flush()
            except (OSError, ValueError):
                pass  # the process ended, or was stopped, first: `wait_for_end` says how
        threading.Thread(target=write, daemon=True, name="workbench-scratch-request").start()

    def ask_to_stop(self) -> None:
        try:
            self.child.stdin.close()  # the process's stop: its stdin ends
        except OSError:
            pass

    def drain(self, wait_s: float = 0.0) -> None:
        """Hand on every event waiting (waiting up to ``wait_s`` for the first); pass a Stop on to the process."""
        if self.hooks.should_stop():
            self.ask_to_stop()
        try:
            event = self.events.get(timeout=wait_s) if wait_s else self.events.get_nowait()
            while True:
                self._apply(event)
                event = self.events.get_nowait()
        except queue.Empty:
            pass

    def _apply(self, event: tuple) -> None:
        kind, *args = event
        if kind in ("start", "epoch", "end", "done"):
            self.record = args[0]
        if kind == "prepare":
            self.hooks.on_prepare(args[0])
        elif kind == "start":
            self.hooks.on_start(self.record, args[1])
        elif kind == "step":
            self.hooks.on_step(self.record, *args)
        elif kind == "epoch":
            self.hooks.on_epoch(self.record)
        elif kind == "end":
            self.hooks.on_end(self.record)
        elif kind == "raised":
            self.raised = args[0]
        elif kind == "gone":
            self.ended = True

    def wait_for_end(self) -> None:
        """Relay until the scratch process has ended. A Ctrl-C meanwhile (the scratch process has it too) waits
        for the scratch run to be saved, then goes on."""
        interrupted = None
        while not self.ended:
            try:
                self.drain(WAIT_S)
            except KeyboardInterrupt as exc:
                interrupted = exc
                self.ask_to_stop()
        self.ask_to_stop()
        self.child.wait()
        if interrupted is not None:
            raise interrupted


class _Listening(Hooks):
    """The transfer run's hooks, which also hand on the scratch run's news at each of the transfer run's calls."""

    def __init__(self, hooks: Hooks, relay: _Relay):
        self.hooks, self.relay = hooks, relay

    def on_prepare(self, what: str) -> None:
        self.hooks.on_prepare(what)
        self.relay.drain()

    def on_start(self, record: RunRecord, steps_per_epoch: int) -> None:
        self.hooks.on_start(record, steps_per_epoch)

    def on_step(self, record: RunRecord, epoch: int, step: int, loss: float) -> None:
        self.hooks.on_step(record, epoch, step, loss)
        self.relay.drain()

    def on_epoch(self, record: RunRecord) -> None:
        self.hooks.on_epoch(record)
        self.relay.drain()

    def on_end(self, record: RunRecord) -> None:
        self.hooks.on_end(record)

    def should_stop(self) -> bool:
        return self.hooks.should_stop()
