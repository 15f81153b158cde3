"""Issue 20 (11) and the dashboard's half of (7): what a server shared by a class must survive and not show.

A filter SQLite cannot bind, a terminal's comparison killed with ``kill -9``, a damaged ``jobs.db``, errors and
paths shown to every page, and files only their owner can read.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import streamlit as st
import tomllib
from streamlit.config import ShowErrorDetailsConfigOptions
from streamlit.testing.v1 import AppTest

from workbench.cli.main import main
from workbench.cli.serve import STREAMLIT_SETTINGS
from workbench.core import sqlite as sqlite_files
from workbench.core.errors import RunStoreError
from workbench.core.files import file_mode
from workbench.core.records import EpochRecord, RunRecord
from workbench.jobs.queue import JobQueue
from workbench.store.runs import RunStore

ROOT = Path(__file__).resolve().parents[1]
TINY_CLI = ["--dataset", "digits:0-2", "--train-per-class", "4", "--image-size", "32", "--batch-size", "6",
            "--device", "cpu"]


def _record(run_id: str, epochs: int = 1, status: str = "running") -> RunRecord:
    record = RunRecord(run_id=run_id, config={"backbone": "resnet18", "seed": 0}, status=status,
                       created="2026-01-01T00:00:00")
    for i in range(epochs):
        record.epochs.append(EpochRecord(
            epoch=i + 1, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, lrs={"head": 0.1}, epoch_s=1.0,
            cum_s=i + 1.0, images_seen=10, epoch_flops=100, train_flops=100, trainable_params=5, total_params=10,
            freeze_depth=0, features_cached=False, peak_mem_bytes=1000, throughput=5.0))
    return record


# --- `workbench runs --filter` ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["[1,2]", '{"a":1}', "99999999999999999999999", "NaN"])
def test_a_filter_value_sqlite_cannot_compare_is_one_line(tmp_path, capsys, value):
    """Seen: `workbench runs --filter lr=[1,2]` ended in a SQLite traceback."""
    RunStore(tmp_path).save(_record("r-1", status="completed"))
    assert main(["runs", "--runs-dir", str(tmp_path), "--filter", f"lr={value}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot filter runs by lr") and err.count("\n") == 1


def test_filters_still_match_numbers_words_and_lists_of_them(tmp_path, capsys):
    store = RunStore(tmp_path)
    store.save(_record("r-1", status="completed"))
    assert main(["runs", "--runs-dir", str(tmp_path), "--json", "--filter", "seed=0", "--filter", "seed=1",
                 "--filter", "status=completed", "--filter", "backbone=x' OR '1'='1"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []  # the quote is a value, not SQL
    assert main(["runs", "--runs-dir", str(tmp_path), "--json", "--filter", "seed=0"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["r-1"]


# --- a writer killed with kill -9 ---------------------------------------------------------------------------------

def test_a_record_whose_writer_died_is_read_as_failed_with_its_epochs(tmp_path):
    store = RunStore(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    record = _record("r-dead", epochs=2)
    store.save(record)  # as its writer would, then the writer is replaced by a process that dies
    data = json.loads((tmp_path / "r-dead" / "record.json").read_text())
    (tmp_path / "r-dead" / "record.json").write_text(json.dumps({**data, "pid": child.pid}))
    store.save(_record("r-alive", epochs=1))  # this process: alive, so still running
    assert {r["run_id"]: r["status"] for r in store.list_runs()[0]} == {"r-dead": "running", "r-alive": "running"}
    child.kill()
    child.wait()
    rows = {r["run_id"]: r for r in store.list_runs()[0]}
    assert rows["r-dead"]["status"] == "failed" and rows["r-dead"]["epochs_done"] == 2
    assert rows["r-alive"]["status"] == "running"
    loaded = store.load("r-dead")
    assert loaded.status == "failed" and len(loaded.epochs) == 2 and f"({child.pid} on " in loaded.error
    assert json.loads((tmp_path / "r-dead" / "record.json").read_text())["status"] == "failed"  # saved so


def test_a_killed_writers_last_save_is_never_overwritten(tmp_path):
    """A reader that read "running" just before the writer saved "completed" and exited must not fail the run."""
    store = RunStore(tmp_path)
    store.save(_record("r-1", epochs=1))
    path = tmp_path / "r-1" / "record.json"
    stamp = os.stat(path)
    record = store.load("r-1")
    finished = _record("r-1", epochs=2, status="completed")
    store.save(finished)  # the writer's final save lands between the reader's read and its check
    record.pid = 2**22 + 12345  # a writer that has exited since
    store._fail_orphan(record, path, f"{stamp.st_mtime_ns}:{stamp.st_size}:{stamp.st_ino}")
    assert store.load("r-1").status == "completed" and len(store.load("r-1").epochs) == 2


def _wait_for_an_epoch(runs_dir: Path, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for path in runs_dir.glob("*/record.json"):
            try:
                if json.loads(path.read_text())["epochs"]:
                    return
            except (ValueError, KeyError, OSError):
                pass
        time.sleep(0.2)
    pytest.fail("the comparison never finished an epoch")


def test_a_terminal_comparison_killed_with_sigkill_is_failed_in_the_store_and_the_queue(tmp_path):
    """Seen: the queue row was failed at once, but the runs stayed "running" for ever."""
    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "compare", *TINY_CLI, "--epochs", "200",
                                "--runs-dir", str(runs)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        _wait_for_an_epoch(runs)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    (record,), problems = RunStore(runs).scan()
    assert not problems and record.status == "failed" and 1 <= len(record.epochs) < 200
    assert "ended without finishing it" in record.error
    assert [job["state"] for job in JobQueue(runs).jobs()] == ["failed"]
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0


# --- one SQLite helper; a damaged jobs.db ---------------------------------------------------------------------------

def test_a_jobs_db_that_is_not_a_database_is_set_aside_and_made_again(tmp_path):
    """Seen: a corrupt jobs.db was not rebuilt, and the error blamed the disk space."""
    tmp_path.joinpath("jobs.db").write_bytes(b"this is not a database" * 100)
    queue = JobQueue(tmp_path)
    job = queue.add("owner-a", "Ada")
    assert queue.try_start(job, 1) and [j["job_id"] for j in queue.jobs()] == [job]
    assert any(name.startswith("jobs.db.corrupt-") for name in os.listdir(tmp_path))


def test_a_jobs_db_damaged_past_its_first_page_is_set_aside_on_the_next_call(tmp_path):
    queue = JobQueue(tmp_path)
    for i in range(300):
        queue.add(f"owner-{i}", "x" * 200)
    with closing(sqlite3.connect(tmp_path / "jobs.db")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray((tmp_path / "jobs.db").read_bytes())
    data[8192:len(data) - 4096] = b"\xff" * (len(data) - 4096 - 8192)
    (tmp_path / "jobs.db").write_bytes(bytes(data))
    fresh = JobQueue(tmp_path)
    with pytest.raises(RunStoreError, match=r"jobs.db was damaged \(set aside as jobs.db.corrupt-.*\); a new one is "
                                            r"made: try again"):
        fresh.jobs()
    assert fresh.jobs() == []
    job = fresh.add("owner-b", "Bo")
    assert [j["job_id"] for j in fresh.jobs()] == [job]


def test_the_index_and_the_queue_open_their_files_through_one_helper(tmp_path, monkeypatch):
    opened = []
    connect = sqlite_files.connect
    monkeypatch.setattr(sqlite_files, "connect", lambda path, *a, **k: opened.append(Path(path).name) or connect(
        path, *a, **k))
    RunStore(tmp_path).save(_record("r-1", status="completed"))
    JobQueue(tmp_path).add("owner")
    assert {"runs.db", "jobs.db"} <= set(opened)
    for name in ("runs.db", "jobs.db"):
        with closing(sqlite3.connect(tmp_path / name)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_queue_in_a_full_disk_says_so_and_a_damaged_one_does_not_blame_the_disk():
    assert sqlite_files.is_full(sqlite3.OperationalError("database or disk is full"))
    assert sqlite_files.is_corrupt(sqlite3.DatabaseError("file is not a database"))
    assert sqlite_files.is_corrupt(sqlite3.DatabaseError("database disk image is malformed"))
    assert not sqlite_files.is_corrupt(sqlite3.OperationalError("database is locked"))


# --- what every page is shown -------------------------------------------------------------------------------------

def test_streamlit_shows_pages_one_line_not_a_traceback_from_the_checkout_and_the_installed_command():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    value = config["client"]["showErrorDetails"]
    assert value in {option.value for option in ShowErrorDetailsConfigOptions}  # what this Streamlit takes
    assert value in ("type", "none")  # "false" is the legacy spelling of "stacktrace": a traceback still shows
    flags = dict(zip(STREAMLIT_SETTINGS[::2], STREAMLIT_SETTINGS[1::2]))
    for section, options in config.items():
        for name, setting in options.items():
            assert flags[f"--{section}.{name}"] == str(setting).lower(), name


def _page(runs: Path, monkeypatch, *args: str) -> AppTest:
    monkeypatch.setenv("WORKBENCH_RUNS", str(runs))
    monkeypatch.setattr(sys, "argv", ["dashboard.py", *args])
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    return at


def test_a_class_page_names_the_run_folder_not_the_servers_path(tmp_path, monkeypatch):
    runs = tmp_path / "class-runs"
    at = _page(runs, monkeypatch)
    assert not at.exception
    caption = at.caption[0].value
    assert "`class-runs`" in caption and str(tmp_path) not in caption


def test_the_dashboard_and_the_class_board_list_malformed_records_and_keep_going(tmp_path, monkeypatch):
    from test_malformed_records import SHAPES, _write, good

    runs = tmp_path / "runs"
    for run_id, role in (("t-good", "transfer"), ("s-good", "scratch")):
        _write(runs, run_id, good(run_id, role))
    bad = []
    for i, (_, data, ok) in enumerate(SHAPES):
        if ok or i % 4 == 0:  # every shape a reader accepts, and a quarter of the rest
            _write(runs, f"m-{i:04d}", data)
            bad += [] if ok else [f"m-{i:04d}"]
    at = _page(runs, monkeypatch)
    assert not at.exception, at.exception
    at.session_state["view_tab"] = "Compare runs"  # only the open tab is drawn
    at.run()
    assert not at.exception, at.exception
    warned = " ".join(w.value for w in at.warning).replace("\\", "")  # drawn as text: marks escaped
    assert all(f"run {run_id} is shown as unreadable" in warned for run_id in bad)
    at.session_state["view_tab"] = "Class board"  # pools the readable ones and keeps going
    at.run()
    assert not at.exception, at.exception
    assert len(bad) > 100


# --- permissions ----------------------------------------------------------------------------------------------------

@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_records_and_checkpoints_are_readable_by_the_other_accounts_as_any_file_is(tmp_path, umask_022):
    """Seen: mkstemp made every record and weights file 0600, so a shared run folder broke for the others."""
    store = RunStore(tmp_path)
    store.save(_record("r-1", status="completed"))
    store.save_checkpoint("r-1", {})
    assert file_mode() == 0o644
    for path in (tmp_path / "r-1" / "record.json", tmp_path / "r-1" / "model.pt"):
        assert path.stat().st_mode & 0o777 == 0o644, path
    os.umask(0o077)  # a private umask is honoured too
    store.save(_record("r-1", status="completed"))
    assert (tmp_path / "r-1" / "record.json").stat().st_mode & 0o777 == 0o600


def test_inside_the_networks_of_a_classmates_private_dataset_stays_closed(tmp_path, monkeypatch):
    """A probe: a student opened "Inside the networks" on a comparison another student trained on their own,
    unshared images, and saw those images as "true cup" (where it looks, mistakes). Their owner and the teacher
    may look; once shared, the class may."""
    from test_gathered import three_sessions_each
    from test_malformed_records import _write, good

    from workbench.dashboard.owners import dataset_viewer
    from workbench.data.gathered.shelf import DatasetShelf

    runs = tmp_path / "runs"
    shelf = DatasetShelf(runs)
    three_sessions_each(shelf, "desk", owner="someone-else")
    desk = f"imagefolder:{(runs / 'datasets' / 'desk').resolve()}"
    for run_id, role in (("t-desk", "transfer"), ("s-desk", "scratch")):
        _write(runs, run_id, good(run_id, role, dataset=desk))
    closed = "trained on a classmate's own images"
    at = _page(runs, monkeypatch)
    at.session_state["view_tab"] = "Inside the networks"
    at.run()
    assert not at.exception and any(closed in i.value for i in at.info), [i.value for i in at.info]
    assert not at.toggle  # the views' switch is not even drawn

    shelf.share("desk", True, "someone-else")
    at.run()
    assert not any(closed in i.value for i in at.info)
    shelf.share("desk", False, "someone-else")
    assert shelf.hides_images_of(desk, dataset_viewer(at.session_state["_owner_token"]))
    assert not shelf.hides_images_of(desk, "someone-else") and not shelf.hides_images_of(desk, None)
    assert not shelf.hides_images_of("digits:0-4", "anyone")
    teacher = _page(runs, monkeypatch, "--teacher")
    teacher.session_state["view_tab"] = "Inside the networks"
    teacher.run()
    assert not any(closed in i.value for i in teacher.info)
