"""The run folder's training queue: at most K jobs train, the rest wait in order, dead holders free their slots;
the dashboard's board on top of it; a worker that dies; the class board's pooled lines; the store's change view."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from workbench.core.settings import max_jobs as default_max_jobs
from workbench.experiments.comparisons import group_comparisons
from workbench.experiments.grids import configs_from_values
from workbench.experiments.grouping import sweep_groups
from workbench.experiments.runner import run_comparison
from workbench.jobs.board import JobBoard
from workbench.jobs.job import Job
from workbench.jobs.queue import JobQueue, queue_slot
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore
from workbench.store.view import StoreView

TINY = {"dataset": "digits:0-2", "train_per_class": 2, "epochs": 1, "image_size": 32, "batch_size": 6}


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_jobs_wait_in_order_and_at_most_k_train(tmp_path):
    queue = JobQueue(tmp_path)
    a, b, c = (queue.add(f"page-{n}", n) for n in "abc")
    assert queue.try_start(a, 1) and not queue.try_start(c, 1)  # c waits behind b, and the one slot is taken
    assert not queue.try_start(b, 1) and queue.position(b) == 1 and queue.position(c) == 2
    queue.finish(a, "completed")
    assert not queue.try_start(c, 2) and queue.try_start(b, 2) and queue.try_start(c, 2)
    assert [j["state"] for j in queue.jobs()] == ["completed", "running", "running"]
    assert queue.position(c) is None


def test_a_job_whose_process_died_frees_its_slot(tmp_path):
    queue = JobQueue(tmp_path)
    orphan = queue.add("page-a", pid=_dead_pid())
    waiting = queue.add("page-b", pid=_dead_pid())
    mine = queue.add("page-c")
    assert queue.try_start(mine, 1)
    states = {j["job_id"]: (j["state"], j["error"]) for j in queue.jobs()}
    assert states[orphan][0] == "cancelled" and states[waiting][0] == "cancelled" and "ended" in states[orphan][1]


def test_reading_the_line_ends_a_dead_processs_job_and_leaves_a_live_one(tmp_path):
    """Pages read the line every few seconds without a write lock; a job whose process died is still ended there."""
    queue = JobQueue(tmp_path)
    alive_job = queue.add("page-a")
    assert [j["job_id"] for j in queue.jobs(("queued", "running"))] == [alive_job]
    orphan = queue.add("page-b", pid=_dead_pid())
    assert [j["job_id"] for j in queue.jobs(("queued", "running"))] == [alive_job]
    assert [(j["job_id"], j["state"]) for j in queue.jobs(("cancelled",))] == [(orphan, "cancelled")]


def test_the_cli_waits_its_turn_and_says_where_it_stands(tmp_path):
    queue = JobQueue(tmp_path)
    dashboard_job = queue.add("page-a", "Ada")
    assert queue.try_start(dashboard_job, 1)
    said, entered = [], threading.Event()

    def terminal():
        with queue_slot(tmp_path, "comparison", ["c-x"], max_jobs=1, say=said.append, poll_s=0.02):
            entered.set()

    thread = threading.Thread(target=terminal)
    thread.start()
    time.sleep(0.5)
    assert not entered.is_set() and said and "number 1 in line (1 may train at once)" in said[0]
    queue.finish(dashboard_job, "completed")
    thread.join(10)
    assert entered.is_set()
    assert [j["state"] for j in queue.jobs()] == ["completed", "completed"]
    assert queue.owners()["c-x"]["owner"].startswith("cli:")


def test_a_teacher_can_stop_a_terminal_job_waiting_or_training(tmp_path):
    queue = JobQueue(tmp_path)
    blocker = queue.add("page-a")
    queue.try_start(blocker, 1)
    script = (f"import time; from workbench.jobs.queue import queue_slot\n"
              f"with queue_slot({str(tmp_path)!r}, 'comparison', max_jobs=1, poll_s=0.05):\n"
              f"    time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(queue.jobs()) < 2:
        time.sleep(0.1)
    terminal = queue.jobs()[1]["job_id"]
    queue.stop(terminal)  # waiting: it leaves the line, and the terminal says why
    assert process.wait(60) == 1 and "taken off the queue" in process.stderr.read()
    assert queue.jobs()[1]["state"] == "cancelled"
    queue.finish(blocker, "completed")
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    while time.time() < deadline and not queue.jobs(("running",)):
        time.sleep(0.1)
    queue.stop(queue.jobs(("running",))[0]["job_id"])  # training: a Ctrl-C to its process
    assert process.wait(60) != 0 and "KeyboardInterrupt" in process.stderr.read()
    assert queue.jobs()[-1]["state"] == "interrupted"


def test_the_job_limit_comes_from_the_environment_or_the_cores(monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_JOBS", "3")
    assert default_max_jobs() == 3
    monkeypatch.setenv("WORKBENCH_MAX_JOBS", "many")
    with pytest.raises(Exception, match="whole number"):
        default_max_jobs()
    monkeypatch.delenv("WORKBENCH_MAX_JOBS")
    assert default_max_jobs() == max(1, (os.cpu_count() or 1) // 2)


def test_the_board_starts_jobs_in_order_and_a_stop_in_line_cancels_only_that_job(tmp_path):
    store = RunStore(tmp_path)
    board = JobBoard(tmp_path, max_jobs=1, poll_s=0.05)
    first = board.launch(Job(configs_from_values(TINY), store, owner="page-a", name="Ada"))
    second = board.launch(Job(configs_from_values({**TINY, "seeds": "1"}), store, owner="page-b"))
    third = board.launch(Job(configs_from_values({**TINY, "seeds": "2"}), store, owner="page-c"))
    assert first.state == "running" and second.state == "queued" and board.position(third) == 2
    assert board.active("page-b") is second and board.active("page-d") is None
    second.stop()
    for job in (first, third):
        job.wait(600)
    time.sleep(0.3)  # the board's last tick records how they ended
    assert (first.state, second.state, third.state) == ("completed", "cancelled", "completed")
    jobs = board.queue.jobs()
    assert [j["state"] for j in jobs] == ["completed", "cancelled", "completed"]
    assert jobs[2]["started"] >= jobs[0]["ended"]  # one slot: the third started after the first ended
    assert board.queue.owners()[first.comparison_ids[0]]["name"] == "Ada"
    assert len(store.list_runs()[0]) == 4  # the cancelled job trained nothing


def test_a_job_waits_for_its_servers_measurement_while_nothing_trains_but_never_long(tmp_path, monkeypatch):
    """A Launch in the seconds a page's server measures the machine: training beside the measurement slowed both
    (a dashboard test took 33 s instead of 17) and the measurement kept that load."""
    from workbench.jobs import board as boards

    store, measuring = RunStore(tmp_path), threading.Event()
    measuring.set()
    board = JobBoard(tmp_path, max_jobs=2, poll_s=0.05, measuring=measuring.is_set)
    held = board.launch(Job(configs_from_values(TINY), store, owner="page-a"))
    time.sleep(0.3)
    assert held.state == "queued" and held.message == boards.HELD
    measuring.clear()  # measured: it starts
    held.wait(600)
    assert held.state == "completed"
    monkeypatch.setattr(boards, "MAX_HOLD_S", 0.5)
    measuring.set()  # a server that measures all the time (a class typing settings) holds a job half a second
    started = time.monotonic()
    late = board.launch(Job(configs_from_values({**TINY, "seeds": "1"}), store, owner="page-b")).wait(600)
    assert late.state == "completed" and time.monotonic() - started >= 0.5
    monkeypatch.setattr(boards, "MAX_HOLD_S", 600)
    first = board.launch(Job(configs_from_values({**TINY, "epochs": 30}), store, owner="page-c"))
    measuring.clear()
    while first.state == "queued":
        time.sleep(0.01)
    measuring.set()
    beside = board.launch(Job(configs_from_values({**TINY, "seeds": "3"}), store, owner="page-d"))
    assert beside.state == "running"  # a job of the server trains: the next is not held, the machine is loaded anyway
    first.stop()
    for job in (first, beside):
        job.wait(600)


def test_a_worker_that_dies_fails_its_job_and_keeps_its_finished_epochs(tmp_path):
    store = RunStore(tmp_path)
    board = JobBoard(tmp_path, max_jobs=1, poll_s=0.05)
    job = board.launch(Job(configs_from_values({**TINY, "epochs": 200}), store, worker_process=True, owner="page-a"))
    deadline = time.time() + 300
    while time.time() < deadline and not any(r.epochs for r in store.scan()[0]):
        time.sleep(0.2)
    os.kill(job._process.pid, signal.SIGKILL)
    job.wait(60)
    time.sleep(0.3)
    assert job.state == "failed" and "ended unexpectedly" in job.error
    (record,) = store.scan()[0]
    assert record.status == "failed" and 1 <= len(record.epochs) < 200
    assert board.queue.jobs()[0]["state"] == "failed"


def test_the_class_board_pools_everyones_runs_at_each_value(tmp_path):
    store = RunStore(tmp_path)
    base = RunConfig(dataset="digits:0-2", train_per_class=2, epochs=1, image_size=32, batch_size=6)
    for depth, seed in ((0, 0), (0, 1), (6, 0), (6, 0)):  # the last repeats the third: reused, counted once
        run_comparison(ComparisonConfig(RunConfig(**{**base.to_dict(), "freeze_depth": depth}), seeds=[seed]), store)
    comparisons = list(group_comparisons(store.scan()[0]).values())
    (plain,) = sweep_groups(comparisons, "freeze_depth")  # unpooled: seed 0 only, a point per comparison
    assert len(plain.points) == 3
    (group,) = sweep_groups(comparisons, "freeze_depth", pool=True)
    points = {p["freeze_depth"]: p for p in group.points}
    assert points[0]["comparisons"] == 2 and points[6]["comparisons"] == 2
    assert len(points[0]["transfer"]["run_ids"]) == 2  # two seeds: a mean and a spread
    assert "run_ids" not in points[6]["transfer"]  # the same training twice: one run
    accuracies = [r.summary()["test_acc"] for c in comparisons for r in c.transfer
                  if r.config["freeze_depth"] == 0]
    assert points[0]["transfer"]["test_acc"] == pytest.approx(sum(accuracies) / 2)


def test_the_store_view_reads_only_what_changed(tmp_path):
    store = RunStore(tmp_path)
    config = ComparisonConfig(RunConfig(dataset="digits:0-2", train_per_class=2, epochs=1, image_size=32))
    run_comparison(config, store)
    view = StoreView(store)
    records, problems = view.refresh()
    assert len(records) == 2 and not problems and view.loaded == 2
    view.refresh()
    assert view.loaded == 2  # nothing changed: nothing read
    run_comparison(ComparisonConfig(RunConfig(**{**config.transfer.to_dict(), "seed": 5})), store)
    records, _ = view.refresh()
    assert len(records) == 4 and view.loaded == 4
    gone = records[0].run_id
    shutil.rmtree(tmp_path / gone)  # a folder deleted by hand
    records, _ = view.refresh()
    assert len(records) == 3 and gone not in {r.run_id for r in records} and view.loaded == 4
