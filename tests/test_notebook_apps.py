"""A teacher's first day with the panels (issue 22): JupyterLab reloaded mid-run without saving, Notebook 7, Voilà.

Each test opens a one-cell notebook with a tiny comparison panel (digits, 4 images a class, 32 px) in headless
Chromium. Skipped, with the reason, where Chromium or Playwright is missing. Screenshots are kept in each test's
temporary folder (and copied to $WORKBENCH_SCREENSHOT_DIR if set).
"""

import os
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from servers import KERNEL_IDLE, free_port, jupyter_lab, stop
from test_browser import ARGS, CHROMIUM, playwright, pytestmark  # noqa: F401 - the same skip

TINY = "dataset='digits:0-2', train_per_class=4, image_size=32"
POINTS = ".jupyter-widgets .js-plotly-plot .scatterlayer path.point"
CURVES = ".js-plotly-plot:has(.legendtext:text-is('transfer val'))"
KERNEL_STATUS = "window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status"


def _notebook(folder, name: str, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / name)


def _env(folder) -> dict:
    return dict(os.environ, WORKBENCH_RUNS=str(folder / "runs"), OMP_NUM_THREADS="2")


def _keep(shots) -> None:
    if os.environ.get("WORKBENCH_SCREENSHOT_DIR"):
        shutil.copytree(shots, os.environ["WORKBENCH_SCREENSHOT_DIR"], dirs_exist_ok=True)


def _progress(locator) -> float:
    width = locator.locator(".widget-hprogress .progress-bar").first.evaluate("e => e.style.width")
    return float(width.rstrip("%") or 0)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds:.0f} s"
        time.sleep(0.2)


def test_a_reload_without_saving_gives_the_kernel_back_and_the_cell_run_again_shows_the_run(tmp_path):
    """F5 mid-run, nothing saved: the cell comes back empty, but the kernel is idle again at once (not "Unknown"
    until the run ends) and running the cell again shows the same run, its curves so far, still growing."""
    cell = (f"from workbench.widgets import ComparisonPanel\npanel = ComparisonPanel(epochs=300, {TINY})\n"
            "display(panel)\npanel.run.click()\nawait panel.finished()")
    _notebook(tmp_path, "reload.ipynb", [cell])
    autosave = tmp_path / ".lab-settings" / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    autosave.parent.mkdir(parents=True)
    autosave.write_text('{"autosave": false}')  # JupyterLab saves every 120 s: a slow machine would save the panel
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with jupyter_lab(tmp_path, _env(tmp_path)) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("dialog", lambda dialog: dialog.accept())  # "leave the page? changes are not saved"
        page.goto(f"{url}/lab/tree/reload.ipynb")
        page.wait_for_function(KERNEL_IDLE, timeout=90_000)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        page.locator(POINTS).first.wait_for(timeout=120_000)
        before = page.locator(POINTS).count()
        page.screenshot(path=str(shots / "before_reload.png"))
        page.reload()  # no save: the notebook on disk has no outputs
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        reloaded = time.monotonic()
        page.wait_for_function(KERNEL_IDLE, timeout=30_000)  # the waiting cell let the kernel go
        idle_after = time.monotonic() - reloaded
        assert page.locator(POINTS).count() == 0  # the cell came back empty, as Jupyter keeps it
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # the teacher runs it again
        page.locator(POINTS).first.wait_for(timeout=60_000)
        shown_again = page.locator(POINTS).count()
        assert shown_again >= before, "the curves so far come back, not a new run from its first epoch"
        assert _progress(page) > 0
        _wait(lambda: page.locator(POINTS).count() > shown_again, 60, "the curves should keep growing")
        page.screenshot(path=str(shots / "after_reload_cell_run_again.png"))
        page.get_by_role("button", name="Stop").click()
        page.locator(".widget-html-content", has_text="stopped").first.wait_for(timeout=30_000)
        page.wait_for_function(KERNEL_IDLE, timeout=30_000)
        browser.close()
    _keep(shots)
    runs = list((tmp_path / "runs").rglob("*.json"))
    print(f"kernel idle {idle_after:.1f} s after the reload; {before} points before, {shown_again} when shown again")
    assert idle_after < 10 and runs


def _run_by_keyboard(page, cell, tries: int = 3) -> None:
    """Shift+Enter in the cell, as a person would, again if the cell did not start (a key pressed while the
    freshly loaded page had not yet given the editor its focus is lost): its prompt shows [*] or a number."""
    started = cell.locator(".jp-InputPrompt").filter(has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(tries):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:
            started.wait_for(timeout=20_000)
            return
        except Exception:
            continue
    raise AssertionError(f"the cell did not start after {tries} presses of Shift+Enter")


def test_a_panel_in_notebook_7_is_shown_whole_not_in_a_scroll_box(tmp_path):
    """Notebook 7 puts outputs taller than 100 lines in a 312 px scroll box: a panel is shown full height."""
    pytest.importorskip("notebook", reason="Notebook 7 is not installed (pip install -e '.[dev]')")
    cell = (f"print('\\n'.join(map(str, range(150))))  # a long output: Notebook 7 scrolls such a cell\n"
            f"from workbench.widgets import ComparisonPanel\npanel = ComparisonPanel(epochs=3, {TINY})\n"
            "display(panel)\npanel.run.click()\nawait panel.finished();")
    _notebook(tmp_path, "seven.ipynb", [cell])
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with jupyter_lab(tmp_path, _env(tmp_path)) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}/notebooks/seven.ipynb")  # Notebook 7's page (the notebook package), same server
        cell = page.locator(".jp-Notebook .jp-CodeCell").first
        cell.wait_for(timeout=90_000)
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=90_000)  # kernel up
        _run_by_keyboard(page, cell)  # (Notebook 7 does not expose its app to a script: as a person would)
        try:
            page.locator(POINTS).first.wait_for(timeout=300_000)
        except Exception:
            page.screenshot(path=str(shots / "notebook7_no_curves.png"), full_page=True)
            _keep(shots)
            raise
        cell.locator(".jp-InputPrompt", has_text="[1]").wait_for(timeout=300_000)  # ended: final outputs below
        page.wait_for_timeout(1500)
        area = page.locator(".jp-CodeCell .jp-Cell-outputArea").first
        assert page.locator(".jp-CodeCell.jp-mod-outputsScrolled").count() == 1  # Notebook 7 did mark it
        assert area.evaluate("a => a.scrollHeight <= a.clientHeight + 1"), "the output area scrolls inside itself"
        panel = page.locator(".workbench-panel").first
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "notebook7_panel.png"))
        browser.close()
    _keep(shots)


@pytest.fixture
def voila(tmp_path):
    pytest.importorskip("voila", reason="Voilà is not installed (pip install -e '.[dev]')")
    cell = (f"from workbench.widgets import ComparisonPanel\npanel = ComparisonPanel(epochs=2, {TINY})\n"
            "display(panel)\npanel.run.click()\nawait panel.finished();")
    _notebook(tmp_path, "app.ipynb", [cell])
    port = free_port()
    with open(tmp_path / "voila.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
                                    "--Voila.ip=127.0.0.1", "app.ipynb"], cwd=tmp_path, env=_env(tmp_path),
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # (any page of Voilà's starts a kernel and runs the notebook: its log)
        while "Voilà is running at" not in (tmp_path / "voila.log").read_text() and process.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"voila did not start: {(tmp_path / 'voila.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        stop(process)


def test_in_voila_the_panel_is_an_app_nothing_trains_until_asked_and_nothing_shows_twice(voila, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        opened = time.monotonic()
        page.goto(voila, timeout=120_000)
        page.get_by_role("button", name="Run").wait_for(timeout=120_000)
        shown = time.monotonic() - opened
        page.get_by_text("nothing trains until asked").wait_for(timeout=10_000)
        assert not list((tmp_path / "runs").rglob("*.json")), "nothing trains before Run is pressed"
        page.get_by_role("button", name="Run").click()
        page.locator(POINTS).first.wait_for(timeout=300_000)
        page.get_by_text("done").first.wait_for(timeout=300_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "voila_panel.png"), full_page=True)
        assert page.locator(CURVES).count() == 1, "the curves show once, in the panel"
        assert page.get_by_text("kept as plain outputs").count() == 0
        browser.close()
    _keep(shots)
    print(f"Voilà page usable {shown:.1f} s after it was opened")
