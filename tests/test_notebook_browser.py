"""The notebook panel in a real JupyterLab and headless Chromium, used as a teacher would.

A small notebook that follows the tutorials' flow (show a panel, click Run, wait) is opened and run:
the panel must render, its progress bar must move and its curves gain points while training, Stop
must end a long run within seconds while its cell waits, and after a page reload the curves must
still be drawn. Skipped, with the reason, where Chromium or Playwright is missing. Screenshots are
kept in the test's temporary folder (and copied to $WORKBENCH_SCREENSHOT_DIR if set).
"""

import os
import shutil
import time

import nbformat
import pytest
from servers import KERNEL_IDLE, jupyter_lab
from test_browser import ARGS, CHROMIUM, playwright, pytestmark  # noqa: F401 - the same skip

CELLS = [
    "from IPython.display import display\n"
    "from workbench.widgets import ComparisonPanel\n"
    "TINY = dict(dataset='digits:0-2', train_per_class=4, image_size=32)\n"
    "short = ComparisonPanel(epochs=6, **TINY)\n"
    "display(short)\n"
    "short.run.click()\n"
    "await short.finished();",
    "long = ComparisonPanel(epochs=300, **TINY)\n"
    "display(long)\n"
    "long.run.click()\n"
    "await long.finished()\n"
    "print('long run:', long.job.state)",
]
CURVES = ".jupyter-widgets .js-plotly-plot:has(.legendtext:text-is('transfer val'))"
POINTS = f"{CURVES} .scatterlayer path.point"


@pytest.fixture
def lab(tmp_path):
    """`jupyter lab` serving a tmp folder with the test notebook."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "panel.ipynb")
    env = dict(os.environ, WORKBENCH_RUNS=str(tmp_path / "runs"), WORKBENCH_QUICK="1", OMP_NUM_THREADS="2")
    with jupyter_lab(tmp_path, env) as url:
        yield f"{url}/lab/tree/panel.ipynb"


def _cell(page, index: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _progress(cell) -> float:
    width = cell.locator(".widget-hprogress .progress-bar").first.evaluate("e => e.style.width")
    return float(width.rstrip("%") or 0)


def _static_plots(cell) -> int:
    """Plots left as plain outputs, outside any widget (what a saved notebook keeps). Reopened untrusted,
    the plotly renderer shows the PNG JupyterLab saved beside the figure's data."""
    return cell.evaluate("c => [...c.querySelectorAll('.jp-RenderedPlotly')]"
                         ".filter(p => !p.closest('.jupyter-widgets')).length")


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds:.0f} s"
        time.sleep(0.15)


def test_the_panel_lives_in_jupyterlab_progress_stop_and_reload(lab, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 2600})  # whole cells in view
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(lab)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        started = time.monotonic()
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # not awaited
        short, long = _cell(page, 0), _cell(page, 1)

        short.get_by_role("button", name="Stop").wait_for(timeout=60_000)
        shown_after = time.monotonic() - started
        assert page.get_by_text("Error displaying widget").count() == 0
        progress = set()  # the short run: the bar moves step by step, not only at the end

        def short_done() -> bool:
            progress.add(_progress(short))
            return _static_plots(short) >= 1  # its final curves, left below the panel as a plain output

        _wait(short_done, 120, "the short run should finish and leave its curves")
        assert len({v for v in progress if 0 < v < 100}) >= 3, progress
        short.screenshot(path=str(shots / "finished.png"))

        long.locator(POINTS).first.wait_for(timeout=60_000)
        first = long.locator(POINTS).count()
        _wait(lambda: long.locator(POINTS).count() > first, 60, "the curves should gain points while the cell waits")
        long.screenshot(path=str(shots / "training.png"))

        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_timeout(1000)
        page.reload()
        long.locator(POINTS).first.wait_for(timeout=60_000)  # drawn again from the kernel's widget state
        assert _static_plots(short) >= 1 and page.get_by_text("Error displaying widget").count() == 0
        before = _progress(long)
        _wait(lambda: _progress(long) > before, 30, "the progress bar should still move after the reload")
        long.screenshot(path=str(shots / "after_reload.png"))

        clicked = time.monotonic()
        long.get_by_role("button", name="Stop").click()
        long.locator(".widget-html-content", has_text="stopped").first.wait_for(timeout=30_000)
        stop_latency = time.monotonic() - clicked
        page.wait_for_function(KERNEL_IDLE, timeout=30_000)  # and the waiting cell finished
        assert long.locator(POINTS).count() > 0  # the stopped run's curves stay drawn
        long.screenshot(path=str(shots / "stopped.png"))
        browser.close()
    print(f"panel shown {shown_after:.1f} s after Run All; Stop took {stop_latency:.1f} s")
    assert stop_latency < 5.0
    if os.environ.get("WORKBENCH_SCREENSHOT_DIR"):
        shutil.copytree(shots, os.environ["WORKBENCH_SCREENSHOT_DIR"], dirs_exist_ok=True)
