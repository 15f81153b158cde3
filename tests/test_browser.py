"""The dashboard in a real headless Chromium: launches, live curves, the cost table at 1280 px, the offline
HTML download, errors per page, and the busy-machine note.

Skipped, with the reason, where Chromium or Playwright is missing (``.ci/run`` installs Chromium).
Screenshots are kept in each test's temporary folder (and copied to $WORKBENCH_SCREENSHOTS, a folder, if set).
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import CHROMIUM_ARGS, answers, free_port, stop

from workbench.core.metrics import METRICS
from workbench.experiments.runner import run_comparison
from workbench.present.report import comparison_rows
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
ARGS = CHROMIUM_ARGS
SMALL = {"width": 1280, "height": 720}
TINY = ComparisonConfig(RunConfig(dataset="digits:0-4", train_per_class=3, image_size=32, epochs=2))

playwright = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}; apt-get install chromium")


@pytest.fixture
def runs(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def server(runs, tmp_path):
    port = free_port()
    env = dict(os.environ, WORKBENCH_RUNS=str(runs.root), OMP_NUM_THREADS="2")
    log_path = tmp_path / "dashboard.log"  # a file, not a pipe: a pipe nobody reads fills and stalls the server
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--", "--data-root", str(tmp_path)],  # a class page reads image folders there
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not answers(f"{url}/_stcore/health", process, 60, b"ok"):
        process.kill()
        pytest.fail(f"streamlit did not start: {log_path.read_text()[-3000:]}")
    yield url
    stop(process)
    log = log_path.read_text()
    assert "missing ScriptRunContext" not in log and "streamlit run" not in log, "a worker re-ran the app"


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("WORKBENCH_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["WORKBENCH_SCREENSHOTS"]) / path.name)
    return path


def _type(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")


def _choose(page, label: str, option: str) -> None:
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(
        has_text=re.compile(f"^{re.escape(label)}")).click()
    page.keyboard.type(option)
    page.keyboard.press("Enter")


def _shown_comparison(page) -> str:
    return page.locator("[data-testid='stMain'] input[aria-label='comparison']").input_value()


def _comes_to_show(page, text: str, timeout_s: float = 30) -> str:
    """The comparison picker's label once it says ``text``: until a job's first epoch is recorded it says
    "starting…", and the label and the chart of one rerun reach the page a moment apart."""
    deadline = time.monotonic() + timeout_s
    while text not in (shown := _shown_comparison(page)) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    return shown


def _finished(page, timeout_ms: int = 300_000) -> None:
    page.get_by_role("button", name="runs as CSV").wait_for(timeout=timeout_ms)


FIRST_DAY = {"width": 1280, "height": 800}  # a classroom laptop or projector (issue 22)


def _in_view(locator, height: int = FIRST_DAY["height"]) -> bool:
    """Whether the element is on screen without scrolling (top-left of the page, viewport coordinates)."""
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def test_each_launch_shows_its_own_live_curves(server, browser, tmp_path):
    page = browser.new_page(viewport=FIRST_DAY)
    page.goto(server)
    page.get_by_text("Run the default demo").wait_for(timeout=60_000)
    sidebar = page.locator("[data-testid='stSidebar']")
    for button in ("Launch", "Stop"):  # first in the sidebar, not under every option
        assert _in_view(sidebar.get_by_role("button", name=button), 150), button
    assert sidebar.locator("input[aria-label='backbone']").input_value() == "efficientnet_lite0 · offline"
    _choose(page, "dataset", "digits:0-4")
    _type(page, "labels per class", "3")
    _type(page, "epochs", "2")
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Launch").click()
    page.locator(".legendtext", has_text="transfer val").first.wait_for(timeout=180_000)
    _finished(page)
    assert "2 epochs" in _shown_comparison(page) and "completed" in _shown_comparison(page)

    _type(page, "epochs", "15")  # a second launch, told apart by its epochs, long enough to watch
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Launch").click()
    page.get_by_text(re.compile(r"epoch \d+/15")).first.wait_for(timeout=60_000)  # its progress, while it trains
    assert "15 epochs" in _comes_to_show(page, "15 epochs")  # the picker follows the page's new job
    page.locator(".legendtext", has_text="transfer val").first.wait_for(timeout=180_000)
    assert "15 epochs" in _shown_comparison(page)
    chart = page.locator(".js-plotly-plot:has(.legendtext:text-is('transfer val'))").first
    # At 1280x800 the live chart's legend and its axis are in view, and the tabs stay while this page's job trains.
    assert _in_view(chart.locator(".legendtext", has_text="transfer val")) and _in_view(chart.locator(".g-xtitle"))
    assert page.get_by_role("tab", name="Class board").is_visible()
    _shot(page, tmp_path, "dashboard-live")
    _finished(page)
    assert "15 epochs" in _shown_comparison(page) and "completed" in _shown_comparison(page)
    verdict = page.locator("[data-testid='stMain']").get_by_text(re.compile("reached|neither run")).first
    assert _in_view(verdict) and _in_view(page.get_by_text("test acc", exact=True).first)  # the answer, unscrolled


def test_the_cost_table_shows_every_column_at_1280_px(server, browser, runs, tmp_path):
    comparison = run_comparison(TINY, runs)
    page = browser.new_page(viewport=SMALL)
    page.goto(server)
    _finished(page, 60_000)
    table = page.locator("[data-testid='stTable']").first
    table.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    _shot(page, tmp_path, "dashboard-costs")
    for header in ("measure", "transfer", "scratch"):
        cell = table.get_by_role("columnheader", name=header, exact=True)
        box = cell.bounding_box()
        assert cell.is_visible() and box["x"] + box["width"] <= SMALL["width"], header
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth && t.scrollHeight <= t.clientHeight + 1")
    rows = comparison_rows(comparison.summary())  # every measure, the precision, the estimate where one was kept
    assert len(rows) >= 1 + len(METRICS) and table.get_by_role("row").count() == 1 + len(rows)
    with page.context.expect_page() as opened:  # "run this again": its settings, in a new page of one's own
        page.get_by_role("link", name="run this again").click()
    again = opened.value
    again.wait_for_url(re.compile(r"/\?session=\w+$"), timeout=60_000)  # the link taken, out of the address
    playwright.expect(again.get_by_label("epochs", exact=True)).to_have_value("2", timeout=60_000)  # (1 at first)
    playwright.expect(again.get_by_label("labels per class", exact=True)).to_have_value("3")
    assert again.url != page.url  # not the page the link was on


def test_the_curves_download_renders_offline(server, browser, runs, tmp_path):
    run_comparison(TINY, runs)
    page = browser.new_page(viewport=SMALL)
    page.goto(server)
    _finished(page, 60_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="curves as HTML (works offline)").click()
    saved = tmp_path / "curves.html"
    download.value.save_as(saved)
    offline = browser.new_context(offline=True, viewport=SMALL)
    requested = []
    offline.on("request", lambda request: requested.append(request.url))
    view = offline.new_page()
    view.goto(saved.as_uri())
    view.locator(".main-svg").first.wait_for(timeout=30_000)
    assert view.evaluate("typeof Plotly") == "object"
    assert view.locator(".legendtext", has_text="scratch val").count() == 1
    assert all(url.startswith("file:") for url in requested), requested
    _shot(view, tmp_path, "curves-offline")


def test_an_error_shows_only_on_the_page_that_made_it(server, browser, tmp_path):
    mine, theirs = browser.new_page(viewport=SMALL), browser.new_page(viewport=SMALL)
    for page in (mine, theirs):
        page.goto(server)
        page.get_by_text("Run the default demo").wait_for(timeout=60_000)
    _choose(mine, "dataset", "your image folder")
    _type(mine, "image folder path", str(tmp_path / "no such folder"))
    mine.wait_for_timeout(1000)
    started = time.time()
    mine.get_by_role("button", name="Launch").click()
    error = mine.locator("[data-testid='stSidebar'] [data-testid='stAlert']", has_text="does not exist")
    error.wait_for(timeout=10_000)
    assert time.time() - started < 10
    _shot(mine, tmp_path, "dashboard-error")
    theirs.reload()
    theirs.get_by_text("Run the default demo").wait_for(timeout=60_000)
    assert theirs.locator("[data-testid='stAlert']", has_text="does not exist").count() == 0
    assert mine.locator("[data-testid='stMain'] [data-testid='stAlert']", has_text="does not exist").count() == 0


def test_a_run_recorded_while_the_machine_was_busy_says_so(server, browser, runs, tmp_path):
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * os.cpu_count())]
    try:
        comparison = run_comparison(TINY, runs)
    finally:
        for hog in hogs:
            hog.kill()
    notes = [r.summary().get("machine_busy") for r in comparison.transfer + comparison.scratch]
    assert any(notes), "the run record does not say the machine was busy"
    page = browser.new_page(viewport=SMALL)
    page.goto(server)
    _finished(page, 60_000)
    note = next(n for n in notes if n)
    page.locator("[data-testid='stAlert']", has_text=note[:40]).first.wait_for(timeout=30_000)
    _shot(page, tmp_path, "dashboard-busy")


def test_a_name_typed_as_markdown_is_drawn_as_text(server, browser, runs, tmp_path):
    from workbench.jobs.queue import JobQueue

    name = ("![x](http://127.0.0.1:9/pixel.png) [win](http://127.0.0.1:9/) https://evil.example **big** :skull: "
            "ada@evil.example")
    JobQueue(runs.root).add("someone", name=name, pid=os.getpid())  # waits in line while this test's process lives
    requested = []
    page = browser.new_page(viewport=SMALL)
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server)
    queue = page.locator("[data-testid='stExpander']", has_text="training queue")
    queue.locator("summary").click()
    queue.get_by_text("[win](http://127.0.0.1:9/)", exact=False).wait_for(timeout=60_000)
    _shot(page, tmp_path, "dashboard-queue-name")
    assert name in queue.inner_text().replace("\u200b", "")  # every mark shown as typed (links broken invisibly)
    assert queue.locator("a, img").count() == 0
    assert not [url for url in requested if "127.0.0.1:9/" in url or "evil.example" in url]
