"""From a click on Launch to the first epoch on screen, in the dashboard in headless Chromium.

    python benchmarks/dashboard_latency.py    # about a minute

Serves the dashboard on a loopback port with an empty run folder, sets a tiny comparison (digits 0-4,
3 labels per class, 2 to 4 epochs), clicks Launch, and times until the progress line names an
epoch (training has started), then until the first curve is drawn; then how much of the CPU the
server and the browser took from each run. Three launches, each with new settings so that no
run is reused, after a pause of 10 s (the dashboard starts the next job's worker and
warms it up while nobody trains; a click sooner than that waits for the rest of its warm-up).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers import CHROMIUM_ARGS, answers, free_port  # noqa: E402 - the tests' helpers

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def fill(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")


def main() -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as runs:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            env=dict(os.environ, WORKBENCH_RUNS=runs), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            if not answers(f"http://127.0.0.1:{port}/_stcore/health", server, 60, b"ok"):
                raise SystemExit("the dashboard did not start")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(f"http://127.0.0.1:{port}")
                page.get_by_text("Run the default demo").wait_for(timeout=60_000)
                page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(
                    has_text=re.compile("^dataset")).click()
                page.keyboard.type("digits:0-4")
                page.keyboard.press("Enter")
                fill(page, "labels per class", "3")
                for launch, epochs in enumerate((2, 3, 4), start=1):
                    fill(page, "epochs", str(epochs))
                    page.wait_for_timeout(10_000)  # a person's pause: the next job's worker has warmed up
                    clicked = time.monotonic()
                    page.get_by_role("button", name="Launch").click()
                    page.get_by_text(re.compile(f"epoch \\d+/{epochs}")).first.wait_for(timeout=120_000)
                    progress = time.monotonic() - clicked
                    page.locator(".legendtext", has_text="transfer val").first.wait_for(timeout=120_000)
                    curve = time.monotonic() - clicked
                    print(f"launch {launch}: progress shows an epoch after {progress:.1f} s, "
                          f"first curve after {curve:.1f} s")
                    page.get_by_role("button", name="runs as CSV").wait_for(timeout=300_000)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=60)
        from workbench.store.runs import RunStore

        for record in sorted(RunStore(runs).scan()[0], key=lambda r: r.created):
            shares = [e.others_cpu_share for e in record.epochs if e.others_cpu_share is not None]
            print(f"{record.role:8} {len(record.epochs)} epochs: other programs (server, browser) used "
                  f"{max(shares, default=0):.0%} of the CPU at most during an epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
