"""Time "Run All" of each tutorial in JupyterLab and headless Chromium, as a teacher would run it.

    python benchmarks/notebooks.py            # quick mode (WORKBENCH_QUICK=1), every tutorial
    python benchmarks/notebooks.py --full     # the settings a class uses
    python benchmarks/notebooks.py --full 04  # only tutorials whose name contains 04

Each tutorial is copied into a fresh folder with an empty run store (nothing is reused from earlier
runs), opened in JupyterLab, run with Run All, and timed from the command to the last cell done
(kernel idle, no cell waiting). The executed notebook is saved and checked for error outputs. Prints
a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import CHROMIUM_ARGS, KERNEL_IDLE, jupyter_lab  # noqa: E402 - the tests' launcher

from workbench.cli.serve import tutorials  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PROMPTS = ("() => [...window.jupyterapp.shell.currentWidget.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
           ".map(p => p.textContent.trim())")
STALLED_S = 20  # the kernel idle this long, no cell running or queued, some not run: Run All stopped


def run_all(browser, url: str, name: str, limit_s: float) -> tuple[float, str]:
    """Open ``name`` in a fresh page, Run All, and return (seconds until every code cell has run and the
    kernel is idle, '' or why it stopped early)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{url}/lab/tree/{name}")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    started = time.monotonic()
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    idle_since, problem = None, ""
    while True:
        time.sleep(1)
        prompts, idle = page.evaluate(PROMPTS), page.evaluate(f"() => {KERNEL_IDLE}")
        if idle and prompts and all(re.fullmatch(r"\[\d+\]:?", p) for p in prompts):
            break
        waiting = any("*" in p for p in prompts)  # a cell that awaits a panel leaves the kernel idle meanwhile
        idle_since = (idle_since or time.monotonic()) if idle and not waiting else None
        if idle_since and time.monotonic() - idle_since > STALLED_S:
            problem = "Run All stopped before the last cell"
            break
        if time.monotonic() - started > limit_s:
            problem = f"not done within {limit_s:.0f} s"
            break
    seconds = time.monotonic() - started
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(1500)
    page.evaluate("() => window.jupyterapp.serviceManager.sessions.shutdownAll()")  # free the memory
    page.close()
    return seconds, problem


def errors(path: Path) -> list[str]:
    """The error outputs an executed notebook holds, as 'cell N: Name: message'."""
    notebook = nbformat.read(path, as_version=4)
    return [f"cell {i}: {out['ename']}: {out['evalue']}" for i, cell in enumerate(notebook.cells)
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="only tutorials whose file name contains one of these")
    parser.add_argument("--full", action="store_true", help="full settings (default: quick mode)")
    parser.add_argument("--limit", type=float, default=1800, help="seconds one notebook may take")
    parser.add_argument("--keep", default=None, metavar="DIR", help="copy the executed notebooks into DIR")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chosen = [p for p in tutorials() if not args.only or any(o in p.name for o in args.only)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        env = dict(os.environ, WORKBENCH_RUNS=str(folder / "runs"), OMP_NUM_THREADS=str(os.cpu_count() or 2))
        env.pop("WORKBENCH_QUICK", None)
        if not args.full:
            env["WORKBENCH_QUICK"] = "1"
        for source in chosen:
            shutil.copy(source, folder / source.name)
        with jupyter_lab(folder, env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for source in chosen:
                shutil.rmtree(folder / ".lab-workspaces", ignore_errors=True)  # open this notebook alone
                seconds, problem = run_all(browser, url, source.name, args.limit)
                found = errors(folder / source.name) + ([problem] if problem else [])
                rows.append((source.stem, seconds, found))
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    shutil.copy(folder / source.name, Path(args.keep) / source.name)
                print(f"{source.stem}: {seconds:.0f} s" + (f", {len(found)} problems: {found[0]}" if found else ""),
                      file=sys.stderr, flush=True)
            browser.close()
    mode = "full" if args.full else "quick (`WORKBENCH_QUICK=1`)"
    print(f"| notebook | {mode} |\n|---|---:|")
    for stem, seconds, found in rows:
        print(f"| {stem.replace('_', ' ')} | {seconds:.0f} s{' (errors!)' if found else ''} |")
    return 1 if any(found for *_, found in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
