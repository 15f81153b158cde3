"""The tutorials as files a teacher opens: where their runs go, and whether JupyterLab opens them unmodified."""

import json
import os
import platform
import re
import shutil
import time
from pathlib import Path

import pytest

from workbench.core import settings

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _store_argument(path: Path) -> str:
    """What the tutorial's first code cell gives `RunStore`: its run folder."""
    cell = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    (argument,) = re.findall(r"^store = RunStore\((.*)\)\s*$", "".join(cell["source"]), re.MULTILINE)
    return argument


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_the_tutorials_record_their_runs_where_the_dashboard_reads(path, monkeypatch, tmp_path):
    """The dashboard started in the repository reads $WORKBENCH_RUNS or ./runs; a tutorial's kernel starts in
    notebooks/ (JupyterLab opened from the repository or from notebooks/), and must write to that same folder."""
    argument = _store_argument(path)
    monkeypatch.delenv(settings.RUNS_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    dashboard = settings.runs_dir().resolve()  # `streamlit run dashboard.py` without --runs-dir
    monkeypatch.chdir(ROOT / "notebooks")
    assert eval(argument, {"runs_dir": settings.runs_dir}).resolve() == dashboard == ROOT / "runs"
    monkeypatch.setenv(settings.RUNS_ENV, str(tmp_path))
    assert eval(argument, {"runs_dir": settings.runs_dir}) == settings.runs_dir() == tmp_path


def _lab_metadata() -> dict:
    """The notebook metadata JupyterLab writes once this environment's Python kernel has started."""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"kernelspec": {"display_name": spec.display_name, "language": spec.language, "name": "python3"},
            "language_info": dict(IPythonKernel.language_info)}


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_the_tutorials_hold_the_metadata_jupyterlab_writes(path):
    """JupyterLab writes the kernel's spec and language into a notebook when its kernel starts, and a notebook
    whose metadata changes that way opens already marked modified. Only the Python version can differ."""
    notebook = json.loads(path.read_text())
    expected = _lab_metadata()
    version = expected["language_info"].pop("version")
    recorded = notebook["metadata"]["language_info"].pop("version", None)
    assert notebook["metadata"] == expected and (notebook["nbformat"], notebook["nbformat_minor"]) == (4, 5)
    if recorded != version:
        pytest.skip(f"the tutorials record Python {recorded}; with Python {version} they open marked modified")


def test_a_tutorial_opens_unmodified_in_jupyterlab(tmp_path):
    """The real thing: JupyterLab and headless Chromium open tutorial 4, start its kernel, and nothing is changed."""
    from servers import KERNEL_IDLE, jupyter_lab
    from test_browser import ARGS, CHROMIUM, playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}; apt-get install chromium")
    tutorial = next(p for p in TUTORIALS if p.name.startswith("04"))
    recorded = json.loads(tutorial.read_text())["metadata"]["language_info"]["version"]
    if recorded != platform.python_version():
        pytest.skip(f"the tutorials record Python {recorded}; this is {platform.python_version()}")
    shutil.copy(tutorial, tmp_path / tutorial.name)
    with jupyter_lab(tmp_path, dict(os.environ, WORKBENCH_RUNS=str(tmp_path / "runs"))) as url, \
            playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{url}/lab/tree/{tutorial.name}")
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        time.sleep(2)  # the kernel's info reply has been written into the model by now
        dirty = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
        browser.close()
    assert dirty is False
