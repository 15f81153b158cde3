"""Dashboard servers and pages for the class tests and `benchmarks/classroom.py`: a class server and a teacher
server on loopback ports sharing one run folder, and a page set up with a tiny comparison in Chromium."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from servers import answers, free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET_LINE = re.compile(r"teacher secret: (\S+)")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)  # its log so far, read all along so the pipe never fills

    @property
    def log(self) -> str:
        return "".join(self.output)

    def secret(self, timeout: float = 30) -> str:
        """The teacher secret the server printed at start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = SECRET_LINE.search(self.log)
            if found:
                return found.group(1)
            time.sleep(0.2)
        raise AssertionError(f"no teacher secret printed: {self.log[-2000:]}")


@contextlib.contextmanager
def _serve(command: list[str], runs: Path, port: int, env: dict | None = None, scheme: str = "http") -> Iterator[Server]:
    env = {k: v for k, v in dict(env or os.environ).items() if k != "WORKBENCH_TEACHER_SECRET"}
    process = subprocess.Popen(command, env=dict(env, WORKBENCH_RUNS=str(runs)), cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    server = Server(f"{scheme}://127.0.0.1:{port}", process)
    threading.Thread(target=lambda: server.output.extend(iter(process.stdout.readline, "")), daemon=True).start()
    try:
        if not answers(f"{server.url}/_stcore/health", process, 90, b"ok"):
            raise RuntimeError(f"the dashboard did not start: {server.log[-3000:]}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine can be slow to stop Streamlit
            process.kill()
            process.wait()


def class_server(runs: Path, *app_args: str, env: dict | None = None):
    """`streamlit run dashboard.py` on a loopback port, the class's server (``app_args`` after ``--``)."""
    port = free_port()
    return _serve([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true",
                   "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
                   "--", *app_args], runs, port, env)


def network_server(runs: Path, https: bool = False, env: dict | None = None):
    """`workbench dashboard` on every interface, as a teacher serves a class (``https``: with ``--https``)."""
    port = free_port()
    return _serve([sys.executable, "-m", "workbench.cli.main", "dashboard", "--server.headless", "true",
                   "--server.address", "0.0.0.0", "--server.port", str(port), *(["--https"] if https else [])],
                  runs, port, env, scheme="https" if https else "http")


def teacher_server(runs: Path, *options: str, env: dict | None = None):
    """`workbench dashboard --teacher` as a teacher types it (``options``: e.g. ``--server.address 0.0.0.0``)."""
    port = free_port()
    return _serve([sys.executable, "-m", "workbench.cli.main", "dashboard", "--teacher", "--server.headless", "true",
                   "--server.port", str(port), *options], runs, port, env)


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")


def open_page(page, url: str, timeout_ms: int = 120_000) -> float:
    """Open the dashboard; the seconds until Launch is on screen (the page is usable)."""
    started = time.monotonic()
    page.goto(url)
    page.get_by_role("button", name="Launch").wait_for(timeout=timeout_ms)
    return time.monotonic() - started


def choose_dataset(page, name: str = "digits:0-4") -> None:
    """Pick a dataset in the sidebar as a person would (click, type, Enter), and look that it was taken: on a
    loaded server a keystroke can land before the list opens, and the page trains the default dataset."""
    box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text=re.compile("^dataset"))
    shown = page.locator("[data-testid='stSidebar'] input[aria-label='dataset']")
    for _ in range(3):
        box.click()
        page.keyboard.type(name)
        page.keyboard.press("Enter")
        page.wait_for_timeout(500)
        shown.blur()  # while the picker has the focus its box shows the typed text, taken or not
        page.wait_for_timeout(200)
        if shown.input_value() == name:
            return
        page.keyboard.press("Escape")
    raise AssertionError(f"the dataset picker did not take {name}: {shown.input_value()!r}")


def set_up_tiny(page, seed: int, epochs: int, name: str) -> None:
    """A tiny comparison in the sidebar: digits 0-4, 3 labels per class, the smallest images, one seed."""
    choose_dataset(page)
    for label, value in (("labels per class", "3"), ("epochs", str(epochs)), ("seeds", str(seed)),
                         ("your name (shown on the class board)", name)):
        fill(page, label, value)
    size = page.locator("[data-testid='stSidebar'] [data-testid='stSlider']").filter(has_text="image size")
    size.get_by_role("slider").press("Home")  # the smallest image size
    page.get_by_text("image size (px)").wait_for()
    page.wait_for_timeout(800)
    if page.locator("[data-testid='stSidebar'] input[aria-label='dataset']").input_value() != "digits:0-4":
        choose_dataset(page)  # seen once in CI: a class page trained textures, its sidebar filled in otherwise
        page.wait_for_timeout(800)


def open_teacher_page(page, server: Server, timeout_ms: int = 120_000) -> None:
    """The teacher's page; where it listens beyond this machine, the secret typed once."""
    page.goto(server.url)
    secret = page.get_by_label("teacher secret")
    queue = page.get_by_text("teacher mode")
    secret.or_(queue).first.wait_for(timeout=timeout_ms)
    kept = {"workbench_owner"}
    if secret.count():
        secret.fill(server.secret())
        secret.press("Enter")
        kept.add("workbench_teacher")
    queue.first.wait_for(timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000  # the page writes its cookies once its sidebar is drawn
    while not kept <= {c["name"] for c in page.context.cookies()}:
        if time.monotonic() > deadline:
            raise AssertionError("the teacher page kept no cookie")
        page.wait_for_timeout(200)


def teacher_stop(page, who: str, timeout_ms: int = 60_000) -> None:
    """The teacher presses Stop on ``who``'s line in the queue (the queue redraws itself every 5 s)."""
    line = page.locator("[data-testid='stMain'] [data-testid='stHorizontalBlock']").filter(has_text=who)
    line.get_by_role("button", name="Stop").first.click(timeout=timeout_ms)
