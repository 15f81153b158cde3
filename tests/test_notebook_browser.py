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
    "short = ComparisonPanel(epochs=16, **TINY)\n"
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


# Every width a cell's progress bar takes, recorded by the page itself as it changes: polling from here would
# miss the steps of a short run drawn while this process waits for a busy renderer.
RECORD_PROGRESS = """
window.__widths = [];
new MutationObserver(changes => {
    for (const change of changes) {
        const bar = change.target;
        if (!bar.classList?.contains('progress-bar')) continue;
        const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
        window.__widths.push([cells.indexOf(bar.closest('.jp-Cell')), parseFloat(bar.style.width) || 0]);
    }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['style']});
"""


def _widths(page, index: int) -> list[float]:
    """The widths (%) cell ``index``'s progress bar has taken since the page (re)loaded, in order."""
    return page.evaluate(f"window.__widths.filter(([cell]) => cell === {index}).map(([, width]) => width)")


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
        page.add_init_script(RECORD_PROGRESS)  # on each load, the reload too
        page.goto(lab)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        started = time.monotonic()
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # not awaited
        short, long = _cell(page, 0), _cell(page, 1)

        short.get_by_role("button", name="Stop").wait_for(timeout=60_000)
        shown_after = time.monotonic() - started
        assert page.get_by_text("Error displaying widget").count() == 0
        # the short run: its final curves are left below the panel as a plain output
        _wait(lambda: _static_plots(short) >= 1, 120, "the short run should finish and leave its curves")
        steps = _widths(page, 0)  # the bar moved step by step, not only at the end
        assert len({v for v in steps if 0 < v < 100}) >= 3 and steps[-1] == 100, steps
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
        _wait(lambda: len(set(_widths(page, 1))) >= 2, 30, "the progress bar should still move after the reload")
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
