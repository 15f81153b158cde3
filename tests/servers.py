"""Local servers the browser tests and the notebook benchmark start: a free loopback port, waiting for a
server to answer, JupyterLab set up the way a test wants it (no news, every cell in the page), and Chromium with
its fake camera."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
KERNEL_IDLE = "window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"


@contextlib.contextmanager
def camera_chromium() -> Iterator:
    """Headless Chromium whose camera is Chromium's fake one; the test is skipped, saying why, without Chromium."""
    import pytest
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}; apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_CAMERA)
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, process: subprocess.Popen, seconds: float, body: bytes | None = None) -> bool:
    """Whether ``url`` answers (with ``body``, if given) within ``seconds``, while ``process`` lives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            unverified = ssl._create_unverified_context() if url.startswith("https:") else None  # self-signed
            reply = urllib.request.urlopen(url, timeout=2, context=unverified).read()
            if body is None or reply == body:
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def stop(process: subprocess.Popen) -> None:
    """Ask a server to end; kill it if it has not within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def jupyter_lab(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """`jupyter lab` on a loopback port serving ``folder``, with the server's log in folder/lab.log.

    Yields the server's base URL. News and update checks are off, and the notebook keeps every cell
    in the page (no virtual scrolling), so a test can find cells that are out of view.
    """
    settings = folder / ".lab-settings"
    for plugin, values in (("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False}),
                           ("notebook-extension/tracker", {"windowingMode": "none"})):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    env = dict(env, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(folder / ".lab-workspaces"))
    with open(folder / "lab.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--expose-app-in-browser",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.token=", "--ServerApp.password=",
             "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             f"--ServerApp.root_dir={folder}"], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            if not answers(f"{url}/api/status", process, 60):
                raise RuntimeError(f"jupyter lab did not start: {(folder / 'lab.log').read_text()[-2000:]}")
            yield url
        finally:
            stop(process)

