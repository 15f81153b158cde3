"""Something moves on screen from the click on (issue 22, items 4 and 12): what a run does before its first epoch,
its steps within an epoch, and a busy machine said while it is busy, in a job's message (the dashboard's progress
line, the panels' status) and under a notebook cell that trains without a panel."""

import time

import workbench.jobs.worker as worker
from workbench.core.metrics import busy_now
from workbench.jobs.job import Job
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.training.cost import BusyWatch
from workbench.training.hooks import Hooks
from workbench.training.progress import CellLine, _Cell, default_hooks
from workbench.training.train import train_run

TINY = dict(dataset="digits:0-2", train_per_class=4, image_size=32, batch_size=4, max_eval_per_class=2)


def _messages(job: Job) -> list[str]:
    """Every message the job took, one per event (a page shows the latest at each refresh)."""
    seen, apply = [], job._apply

    def applied(event):
        apply(event)
        seen.append(job.message)

    job._apply = applied
    job.start().wait()
    return seen


def test_a_jobs_message_says_what_happens_before_the_first_epoch_and_each_step(store):
    seen = []
    job = Job([ComparisonConfig(RunConfig(**TINY, epochs=2))], store, on_epoch=lambda r: seen.append(r.epochs[-1]))
    messages = _messages(job)
    assert job.state == "completed"
    before = messages[:next(i for i, m in enumerate(messages) if "step" in m)]
    assert any("decoding images" in m for m in before) and any("building the network" in m for m in before), messages
    assert any("transfer seed 0: epoch 1/2, step 1/3" in m for m in messages), messages


def test_a_busy_machine_is_said_in_the_progress_line_while_it_is_busy(store, monkeypatch):
    """The record says it per epoch, at the end; the line says it as soon as the cost meter sees it."""
    monkeypatch.setattr(BusyWatch, "poll", lambda self: 0.6)
    messages = _messages(Job([ComparisonConfig(RunConfig(**TINY, epochs=1))], store, on_epoch=lambda r: None))
    assert any("decoding images" in m and "machine busy: other programs use 60% of the CPU" in m for m in messages)
    assert any("step 1/3" in m and "machine busy" in m for m in messages)
    assert busy_now(0.1) is None and busy_now(None) is None


def test_the_busy_watch_measures_other_programs_share_once_a_window_has_passed():
    watch = BusyWatch(every_s=0.2)
    assert watch.poll() is None  # nothing known yet
    time.sleep(0.3)
    share = watch.poll()
    assert share is not None and 0.0 <= share <= 1.0


def test_outside_a_kernel_a_run_without_hooks_stays_silent():
    assert type(default_hooks()) is Hooks


def test_a_cell_line_follows_each_run_and_keeps_the_busy_note(store, monkeypatch):
    lines = []
    cell = _Cell(lines.append)
    monkeypatch.setattr(worker.BusyWatch, "poll", lambda self: 0.7)  # the same class: the line's watch too
    record = train_run(RunConfig(**TINY, epochs=1), store, hooks=CellLine(cell))
    record.epochs[-1].others_cpu_share = 0.7  # (a run on a busy machine records it per epoch)
    CellLine(cell).on_end(record)
    assert lines[0].startswith("run 1: decoding images…")
    assert any("epoch 1/1, step 1/3" in line and "machine busy" in line for line in lines)
    assert "done in" in lines[-2] and "test acc" in lines[-2]
    assert "compare FLOPs, not seconds" in lines[-1]


def test_a_notebook_cell_that_trains_without_a_panel_shows_its_progress(tmp_path):
    """Notebook 01's `train_seeds` cell stayed blank for 50 s: in a real kernel, the run now keeps a line under
    its cell up to date (display, then updates of the same display)."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        code = ("from workbench import RunConfig, RunStore, train_seeds\n"
                f"train_seeds(RunConfig(**{TINY!r}, epochs=1), [0, 1], RunStore({str(tmp_path / 'runs')!r}))[0]['test_acc']")
        texts = []
        reply = client.execute_interactive(
            code, timeout=150, output_hook=lambda msg: texts.append((msg["msg_type"], msg["content"])))
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    shown = [c["data"]["text/plain"] for kind, c in texts if kind in ("display_data", "update_display_data")]
    assert [kind for kind, c in texts if kind == "display_data"] == ["display_data"], "one line for the whole cell"
    assert any("decoding images" in s for s in shown) and any("epoch 1/1, step" in s for s in shown)
    assert any(s.startswith("run 2, seed 1") for s in shown) and "test acc" in shown[-1]
