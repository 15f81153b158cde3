"""The dashboard in a real headless Chromium: start Streamlit, launch a tiny comparison, see both curves.

Skipped, with the reason, where Chromium or Playwright is missing (``.ci/run`` installs Chromium).
The screenshot is kept in the test's temporary folder (and copied to $WORKBENCH_SCREENSHOT if set).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

playwright = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}; apt-get install chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    env = dict(os.environ, WORKBENCH_RUNS=str(tmp_path / "runs"), OMP_NUM_THREADS="2")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"streamlit did not start: {process.stdout.read()}")
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_launch_from_the_browser_and_both_curves_render(server, tmp_path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.get_by_text("Run the default demo").wait_for(timeout=60_000)
        for label, value in (("labels per class", "2"), ("epochs", "2")):
            field = page.get_by_label(label, exact=True)
            field.fill(value)
            field.press("Enter")
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Launch").click()
        page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=120_000)
        for name in ("transfer val", "scratch val"):
            page.locator(".legendtext", has_text=name).first.wait_for(timeout=180_000)
        page.get_by_text("val acc").first.wait_for(timeout=180_000)  # the verdict line: both runs finished
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("WORKBENCH_SCREENSHOT"):
        shutil.copy(shot, os.environ["WORKBENCH_SCREENSHOT"])
