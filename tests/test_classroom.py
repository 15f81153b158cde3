"""A class on one server: eight browser sessions in headless Chromium, each launching its own tiny comparison.

What a teacher needs from it: every job completes, no more than K train at once (the others wait in line and
each page says where), the teacher's Stop (on a teacher server beside the class's, as the README sets it up)
ends that student's job only and never the class's server, no record is lost, every page keeps rendering,
and the class board draws the class's line. Screenshots (a page waiting in line, the class board)
are kept in the test's temporary folder and copied to $WORKBENCH_SCREENSHOTS if set.
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from dashboard_pages import class_server, open_page, open_teacher_page, set_up_tiny, teacher_server, teacher_stop
from servers import CHROMIUM_ARGS, answers

from workbench.jobs.queue import JobQueue
from workbench.store.runs import RunStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
K = 2
PAGES = 8
STOPPED = 0  # the page whose long job the teacher stops while the others train and wait
SIZE = {"width": 1200, "height": 800}

playwright = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}; apt-get install chromium")


@pytest.fixture
def classroom(tmp_path):
    """The class's server (K at once; the long job is allowed its 300 epochs) and the teacher's, on one run folder."""
    runs = tmp_path / "runs"
    with class_server(runs, "--max-jobs", str(K), "--max-epochs", "300") as school, teacher_server(runs) as teacher:
        yield school, teacher, RunStore(runs)


def _shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("WORKBENCH_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["WORKBENCH_SCREENSHOTS"]) / path.name)


def _set_up(page, url: str, seed: int, epochs: int, name: str) -> float:
    """Open the dashboard, fill in a tiny comparison; the seconds until the page was usable."""
    shown = open_page(page, url)
    set_up_tiny(page, seed=seed, epochs=epochs, name=name)
    return shown


def _overlap(jobs: list[dict]) -> int:
    """The most jobs that were training at the same moment."""
    edges = sorted([(j["started"], 1) for j in jobs if j["started"]] + [(j["ended"], -1) for j in jobs if j["started"]])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_eight_pages_share_the_server_k_at_a_time(classroom, tmp_path):
    school, teacher_server_, store = classroom
    url = school.url
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = [browser.new_context(viewport=SIZE).new_page() for _ in range(PAGES)]
        first_render = [_set_up(page, url, seed=i, epochs=300 if i == STOPPED else 1 + i % 3, name=f"student {i}")
                        for i, page in enumerate(pages)]
        launched = time.monotonic()
        for page in pages:  # the long job first, then the rest in quick succession
            page.get_by_role("button", name="Launch").click()
        pages[STOPPED].get_by_text(re.compile(r"epoch \d+/300")).first.wait_for(timeout=120_000)
        waiting = pages[-1].get_by_text(re.compile(r"waiting for a training slot, number \d+ in line"))
        waiting.first.wait_for(timeout=60_000)
        _shot(pages[-1], tmp_path, "classroom-waiting")
        teacher = browser.new_context(viewport=SIZE).new_page()
        open_teacher_page(teacher, teacher_server_)
        teacher_stop(teacher, f"student {STOPPED}")  # the teacher stops one student's job, from the teacher page
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and JobQueue(store.root).jobs()[0]["state"] == "running":
            time.sleep(0.5)
        assert school.process.poll() is None  # the class's server was never signalled
        teacher.context.close()

        deadline = time.monotonic() + 400
        under_load, next_reload = [], time.monotonic()
        while time.monotonic() < deadline:
            jobs = JobQueue(store.root).jobs()
            if len(jobs) == PAGES and all(j["state"] not in ("queued", "running") for j in jobs):
                break
            if time.monotonic() >= next_reload:
                started = time.monotonic()  # a page opened while the class trains: how long until it is usable
                pages[STOPPED].reload()
                pages[STOPPED].get_by_role("button", name="Launch").wait_for(timeout=120_000)
                under_load.append(time.monotonic() - started)
                next_reload = time.monotonic() + 20  # a reload redraws every chart of the page: a few are enough
            time.sleep(0.5)  # the class's last job is seen to end within half a second, not within 20
        all_done = time.monotonic() - launched
        pages[STOPPED].get_by_text("stopped by the teacher").wait_for(timeout=120_000)  # the student's page says so
        jobs = JobQueue(store.root).jobs()
        assert [j["state"] for j in jobs] == ["interrupted"] + ["completed"] * (PAGES - 1), jobs
        assert _overlap(jobs) == K  # the slots were used, never more

        records = store.scan()[0]
        by_comparison = {}
        for record in records:
            by_comparison.setdefault(record.comparison_id, []).append(record)
        owners = JobQueue(store.root).owners()
        stopped_id = jobs[0]["comparison_ids"][0]
        assert set(by_comparison) <= set(owners) and len(by_comparison) == PAGES
        for comparison_id, runs in by_comparison.items():
            states = sorted(r.status for r in runs)
            if comparison_id == stopped_id:
                assert "interrupted" in states and all(len(r.epochs) < 300 for r in runs)
            else:
                assert states == ["completed", "completed"], (owners[comparison_id], states)

        for i, page in enumerate(pages[1:], start=1):  # each page ends on its own finished comparison
            try:
                page.get_by_role("button", name="runs as CSV").wait_for(timeout=120_000)
            except Exception:
                _shot(page, tmp_path, f"page-{i}-without-its-result")
                raise
            shown = page.locator("[data-testid='stMain'] input[aria-label='comparison']").input_value()
            assert f"{1 + i % 3} epoch" in shown and "digits:0-4" in shown, (i, shown)
        board = pages[1]
        board.set_viewport_size({"width": 1200, "height": 1400})
        board.get_by_role("tab", name="Class board").click()
        board.get_by_role("button", name="refresh").click()  # the results that came in since this page last ran
        board.get_by_text(f"{PAGES - 1} comparisons at 3 values").wait_for(timeout=60_000)
        board.wait_for_timeout(1500)
        _shot(board, tmp_path, "classroom-board")
        assert board.get_by_text("student 4").count() >= 1
        assert board.get_by_text("training queue").count() == 0  # the line, now empty, is gone from the page
        assert school.process.poll() is None and answers(f"{url}/_stcore/health", school.process, 10, b"ok")
        browser.close()
    print(f"\n8 jobs launched to the last one ended: {all_done:.0f} s; first render of 8 pages: {', '.join(f'{s:.1f}' for s in first_render)} s; "
          f"a reload while the class trained: {', '.join(f'{s:.1f}' for s in under_load)} s")
