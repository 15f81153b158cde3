"""What a failed test leaves for whoever reads CI's output: the browser pages it had open (their address, the end
of their text, a screenshot in its tmp folder), the end of each server log in its tmp folder, and what was using
the CPU. A browser test that times out says only "waited 180 s"; these say whether the page was stuck, the server
had failed, or another program held the machine. Printed last, above pytest's short summary, where a CI log's tail
keeps it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

LOG_LINES = 12
PAGE_CHARS = 600
_found: list[str] = []


def _pages(item) -> list:
    pages = []
    for value in item.funcargs.values():
        if hasattr(value, "contexts"):  # a Playwright Browser
            pages += [page for context in value.contexts for page in context.pages]
        elif hasattr(value, "screenshot") and hasattr(value, "url"):  # a Page
            pages.append(value)
    return pages


def _page_lines(item, folder: Path | None) -> list[str]:
    lines = []
    for number, page in enumerate(_pages(item)):
        try:
            text = " ".join(page.inner_text("body", timeout=5_000).split())
            if folder is not None:
                page.screenshot(path=str(folder / f"failed-page-{number}.png"), timeout=10_000)
        except Exception as error:  # a closed page, a dead browser: say so and go on
            text = f"(unreadable: {type(error).__name__})"
        lines.append(f"page {number} {page.url}: ...{text[-PAGE_CHARS:]}")
    return lines


def _log_lines(folder: Path | None) -> list[str]:
    lines = []
    for log in sorted(folder.rglob("*.log")) if folder is not None else []:
        tail = log.read_text(errors="replace").splitlines()[-LOG_LINES:]
        lines += [f"{log.name}, its last {len(tail)} lines:", *(f"  {line[:200]}" for line in tail)]
    return lines


def _busiest() -> list[str]:
    """The processes using the CPU over the last second (top's second sample; its first counts since start)."""
    try:
        shown = subprocess.run(["top", "-b", "-c", "-n", "2", "-d", "1", "-o", "%CPU", "-w", "200"],
                               capture_output=True, text=True, timeout=15).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return []
    second = [i for i, line in enumerate(shown) if line.startswith("top -")][-1:]
    rows = shown[second[0]:][6:12] if second else []
    return [f"load {os.getloadavg()[0]:.1f}; the busiest processes:", *(f"  {line[:180]}" for line in rows)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and report.when == "call":
        folder = item.funcargs.get("tmp_path")
        _found.append("\n".join([f"--- {item.nodeid}", *_page_lines(item, folder), *_log_lines(folder),
                                 *_busiest()]))
    return report


def pytest_terminal_summary(terminalreporter):
    if _found:
        terminalreporter.section("what the failed tests left")
        for found in _found:
            terminalreporter.write_line(found)
