"""Background jobs: a worker process that never re-runs the page that launched it, and a board of owners."""

import json
import subprocess
import sys

from workbench.experiments.grids import configs_from_values
from workbench.jobs.board import JobBoard
from workbench.jobs.job import Job
from workbench.jobs.pool import prepare_worker
from workbench.store.runs import RunStore

TINY = {"dataset": "digits:0-2", "train_per_class": 2, "epochs": 1, "image_size": 32, "batch_size": 6}


def test_a_worker_process_does_not_rerun_the_page_that_launched_it(tmp_path):
    """Streamlit makes the app script ``__main__``; a multiprocessing child would import it again (and
    draw the page in the worker). The worker must start from the engine alone."""
    page, ran = tmp_path / "page.py", tmp_path / "the page ran"
    page.write_text(f"open({str(ran)!r}, 'w').close()\n")
    script = f"""
import sys, types
from workbench.experiments.grids import configs_from_values
from workbench.jobs.job import Job
from workbench.store.runs import RunStore
page = types.ModuleType("__main__")
page.__file__ = {str(page)!r}
sys.modules["__main__"] = page  # what Streamlit's script runner does
job = Job(configs_from_values({TINY!r}), RunStore({str(tmp_path / 'runs')!r}), worker_process=True).start().wait(600)
print(job.state, job.error)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=700)
    assert result.stdout.startswith("completed None"), result.stdout + result.stderr
    assert not ran.exists()
    assert len(RunStore(tmp_path / "runs").scan()[0]) == 2


def test_the_prepared_worker_takes_the_next_job_and_the_board_keeps_owners(tmp_path):
    prepare_worker()
    from workbench.jobs import pool as jobs

    spare = jobs._spare[0]
    board = JobBoard(tmp_path, max_jobs=1)
    job = board.launch(Job(configs_from_values(TINY), RunStore(tmp_path), worker_process=True, owner="page-a"))
    assert job._process is spare and job.comparison_ids[0].startswith("c-")
    assert board.running() is job and board.latest("page-a") is job and board.latest("page-b") is None
    job.wait(600)
    assert job.state == "completed" and board.running() is None
    assert [c.comparison_id for c in job.results] == job.comparison_ids


def test_a_worker_whose_server_went_away_stops_quietly_and_saves_its_run_as_interrupted(tmp_path):
    """The server died mid-job (its end of the event pipe closed, stdin still open): the worker stops at its next
    step and keeps what it trained, without a traceback in the server's log."""
    from workbench.jobs.pool import WORKER_COMMAND

    configs = configs_from_values({**TINY, "epochs": 200})
    worker = subprocess.Popen(WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    request = {"configs": [c.to_dict() for c in configs], "comparison_ids": ["c-gone"], "runs_dir": str(tmp_path),
               "threads": 1}
    worker.stdin.write(json.dumps(request) + "\n")
    worker.stdin.flush()
    while json.loads(worker.stdout.readline())[0] != "progress":
        pass  # training, and reporting it
    worker.stdout.close()  # the server is gone
    try:
        worker.wait(timeout=120)
        log = worker.stderr.read()
    finally:
        worker.kill()
        worker.stdin.close()
    assert worker.returncode == 0 and "Traceback" not in log and "Error" not in log, log
    records = RunStore(tmp_path).scan()[0]
    assert [r.status for r in records] == ["interrupted"] and len(records[0].epochs) < 200
