"""A comparison's two runs side by side, for real (issue 23, item 5): trained at once in two processes, each with
half the threads and its own record, both heard by the same hooks in this process, a Stop reaching both."""

import subprocess
import sys
import time
from dataclasses import replace

import pytest

from workbench.core.errors import WorkbenchError
from workbench.experiments import pair_process, pairs
from workbench.experiments.runner import run_comparison
from workbench.jobs.job import Job
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.training.cost import others_share_now
from workbench.training.hooks import Hooks
from workbench.training.train import StopRequested

TINY = RunConfig(dataset="digits:0-2", train_per_class=4, image_size=32, epochs=2, batch_size=4,
                 max_eval_per_class=2, device="cpu")
EPOCHS = 12


class Heard(Hooks):
    """What a face hears of one run; the transfer run's steps wait a little until the scratch run has been heard
    (its process takes seconds to start), so that the two are seen to train at the same time."""

    def __init__(self, role: str, log: list, stop_after: int | None = None):
        self.role, self.log, self.stop_after = role, log, stop_after

    def on_start(self, record, steps_per_epoch):
        self.log.append((self.role, "start", record.run_id))

    def on_step(self, record, epoch, step, loss):
        if self.role == "transfer" and not any(r == "scratch" and e == "epoch" for r, e, _ in self.log):
            time.sleep(0.5)  # 18 s at most, in 0.5 s turns: this process hears the other between steps

    def on_epoch(self, record):
        self.log.append((self.role, "epoch", record.epochs[-1].epoch))
        if self.role == "scratch":  # heard in this process: its busy meter must count the other process as the pair's
            from workbench.training.cost import PARTNERS

            self.log.append(("scratch", "partnered", bool(PARTNERS)))

    def on_end(self, record):
        self.log.append((self.role, "end", record.status))

    def should_stop(self):
        return self.stop_after is not None and any(r == "scratch" and e == "epoch" and n >= self.stop_after
                                                   for r, e, n in self.log)


@pytest.fixture
def at_once(monkeypatch):
    """Two threads to share (whatever this machine has), and the pair asked to train at once."""
    import torch

    monkeypatch.setenv("WORKBENCH_PAIR", "together")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_the_two_runs_train_at_once_each_with_its_own_record_and_half_the_threads(at_once, store):
    log = []
    comparison = run_comparison(ComparisonConfig(replace(TINY, epochs=EPOCHS)), store, hooks_for=lambda role, seed: Heard(role, log))
    transfer, scratch = comparison.transfer[0], comparison.scratch[0]
    assert transfer.status == scratch.status == "completed" and len(scratch.epochs) == EPOCHS
    assert transfer.fingerprint and scratch.fingerprint and store.load(scratch.run_id).fingerprint
    assert transfer.environment["threads"] == scratch.environment["threads"] == 1
    assert transfer.config["pretrained"] and not scratch.config["pretrained"]
    assert ("scratch", "partnered", False) not in log and ("scratch", "partnered", True) in log
    first_scratch_epoch = log.index(("scratch", "epoch", 1))
    assert first_scratch_epoch < log.index(("transfer", "epoch", EPOCHS)), log  # both curves grew together
    assert [e for e in log if e[1] == "end"] == [("scratch", "end", "completed"), ("transfer", "end", "completed")] \
        or [e for e in log if e[1] == "end"] == [("transfer", "end", "completed"), ("scratch", "end", "completed")]


def test_a_stop_ends_both_runs_saved_as_interrupted_with_their_finished_epochs(at_once, store):
    log = []
    config = ComparisonConfig(replace(TINY, epochs=300))
    with pytest.raises(StopRequested):
        run_comparison(config, store, hooks_for=lambda role, seed: Heard(role, log, stop_after=2))
    records = {r.role: r for r in store.scan()[0]}
    assert {r.status for r in records.values()} == {"interrupted"}, records
    assert all(0 < len(r.epochs) < 300 for r in records.values())


def test_auto_trains_a_small_comparison_in_turn_and_never_on_one_thread(monkeypatch):
    transfer, scratch = ComparisonConfig(TINY).transfer_run(0), ComparisonConfig(TINY).scratch(0)
    monkeypatch.delenv("WORKBENCH_PAIR", raising=False)
    assert pairs.pairing(transfer, scratch, threads=2) is None  # a few GFLOPs: not worth a second process
    monkeypatch.setenv("WORKBENCH_PAIR", "together")
    assert pairs.pairing(transfer, scratch, threads=1) is None
    assert pairs.together(transfer, scratch, threads=2)
    monkeypatch.setenv("WORKBENCH_PAIR", "in-turn")
    assert not pairs.together(transfer, scratch, threads=2)
    monkeypatch.setenv("WORKBENCH_PAIR", "sideways")
    with pytest.raises(WorkbenchError, match="WORKBENCH_PAIR='sideways' is not a choice; use one of auto"):
        pairs.together(transfer, scratch, threads=2)


def test_auto_trains_at_once_when_other_programs_load_the_cpu_at_launch(monkeypatch):
    """Calibrations (taken on a quiet machine) that favour one run after the other give way to the load seen
    when the pair starts: beside another multi-threaded program two one-thread runs lose far less."""
    import subprocess
    import sys

    transfer, scratch = ComparisonConfig(TINY).transfer_run(0), ComparisonConfig(TINY).scratch(0)
    monkeypatch.delenv("WORKBENCH_PAIR", raising=False)
    monkeypatch.setattr(pairs, "MIN_SCRATCH_FLOPS", 0)  # this tiny pair counts as one worth a second process
    quiet = pairs.PairSeconds(in_turn=10.0, at_once=12.0, transfer=7.0, scratch=11.0)
    monkeypatch.setattr(pairs, "pair_seconds", lambda *args: quiet)
    monkeypatch.setattr(pairs, "others_share_now", lambda: 0.0)
    assert not pairs.together(transfer, scratch, threads=2)  # quiet: the calibrations decide
    monkeypatch.setattr(pairs, "others_share_now", others_share_now)  # measured, from here on
    spin = "import time\nend = time.time() + 20\nwhile time.time() < end: pass"
    load = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]  # a 2-thread program beside it
    try:
        time.sleep(0.3)
        assert pairs.together(transfer, scratch, threads=2)
        assert pairs.pairing(transfer, scratch, threads=2) is None  # the estimate before Launch: calibrations only
    finally:
        for process in load:
            process.kill()


def test_an_error_that_cannot_travel_between_processes_still_says_what_it_was():
    class Local(Exception):  # defined here: the other process could not rebuild it
        pass

    said = pair_process._portable(Local("the disk is full"))
    assert isinstance(said, WorkbenchError) and str(said) == "Local: the disk is full"
    assert isinstance(pair_process._portable(StopRequested()), StopRequested)
    assert isinstance(pair_process._portable(KeyboardInterrupt()), KeyboardInterrupt)


def test_a_jobs_progress_adds_up_two_runs_that_train_at_once(store):
    job = Job([ComparisonConfig(TINY)], store)  # two runs; not started: its events are applied by hand
    cid = job.comparison_ids[0]
    for event in (("run", cid, "t-1"), ("run", cid, "s-1"), ("progress", 0.5, "transfer", "t-1"),
                  ("progress", 0.25, "transfer · scratch", "s-1")):
        job._apply(event)
    assert job.progress == pytest.approx((0.5 + 0.25) / 2) and job.message == "transfer · scratch"
    job._apply(("progress", 1.0, "transfer", "t-1"))
    assert job.progress == pytest.approx((1.0 + 0.25) / 2)


def test_a_partners_cpu_is_not_counted_as_other_programs_loading_the_machine():
    """Each run of a pair trained at once counts the other's work as its own comparison's, not as a busy machine."""
    import subprocess
    import sys

    from workbench.training.cost import CpuMeter, partnered

    spin = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        alone, beside = CpuMeter(), None
        with partnered(spin.pid):
            beside = CpuMeter()
            time.sleep(1.0)
            _, others_beside = beside.lap()
        _, others_alone = alone.lap()
    finally:
        spin.kill()
        spin.wait()
    cores = __import__("os").cpu_count()
    assert others_alone > 0.6 / cores  # the spinning process, seen as another program: about one core of all
    assert others_beside < others_alone - 0.5 / cores


def test_a_scratch_process_stopped_before_its_run_was_handed_over_ends_quietly():
    """A Stop seconds after Launch closes the scratch process's input before its run arrives (a probe saw
    `EOFError: Ran out of input` tracebacks in the class server's log)."""
    ended = subprocess.run([sys.executable, "-c", "from workbench.experiments.pair_process import serve; serve()"],
                           input=b"", capture_output=True, timeout=120)
    assert ended.returncode == 0 and b"Traceback" not in ended.stderr, ended.stderr.decode()
