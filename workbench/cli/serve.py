"""`workbench dashboard` and `workbench notebooks DIR`: what ships inside the package, served or copied out.

A pip-installed workbench has no checkout around it, so the Streamlit app and the tutorials travel in
the wheel (pyproject.toml maps the repository's notebooks/ to `workbench.notebooks`) and these two
commands find them there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from workbench.core.errors import WorkbenchError

# What the checkout's .streamlit/config.toml says. Streamlit reads that file only from the folder it
# starts in, so the installed command passes the same settings as flags; the user's flags come later
# and win.
STREAMLIT_SETTINGS = ["--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
                      "--runner.postScriptGC", "false", "--client.toolbarMode", "viewer"]


def add_commands(commands) -> None:
    """The two subcommands, on the CLI's subparsers."""
    dashboard = commands.add_parser(
        "dashboard", help="serve the dashboard (Streamlit options pass through, e.g. --server.port 8600)",
        usage="workbench dashboard [--runs-dir PATH] [--max-jobs K] [--teacher] [STREAMLIT OPTIONS]",
        epilog="Other options go to `streamlit run` (see `python -m streamlit run --help`).")
    dashboard.add_argument("--runs-dir", default=None, help="run folder (default $WORKBENCH_RUNS or ./runs)")
    dashboard.add_argument("--max-jobs", type=int, default=None, metavar="K",
                           help="jobs that train at once, the rest wait in line (default: half the cores, "
                                "or $WORKBENCH_MAX_JOBS)")
    dashboard.add_argument("--teacher", action="store_true",
                           help="teacher mode: every page can stop anyone's job (serve it on a port only you use)")
    dashboard.set_defaults(handler=cmd_dashboard, passes_unknown_options=True)

    notebooks = commands.add_parser("notebooks", help="copy the tutorial notebooks into DIR to work on")
    notebooks.add_argument("dir", metavar="DIR")
    notebooks.add_argument("--force", action="store_true", help="overwrite tutorials already in DIR")
    notebooks.set_defaults(handler=cmd_notebooks)


def streamlit_command(streamlit_args: list[str], runs_dir: str | None = None, max_jobs: int | None = None,
                      teacher: bool = False) -> list[str]:
    """``python -m streamlit run <packaged app>`` with this interpreter, so the app sees this install."""
    script = Path(__file__).parent.parent / "dashboard" / "script.py"
    app_args = (["--runs-dir", runs_dir] if runs_dir else []) + (["--max-jobs", str(max_jobs)] if max_jobs else []) \
        + (["--teacher"] if teacher else [])
    if app_args and "--" not in streamlit_args:
        app_args.insert(0, "--")
    return [sys.executable, "-m", "streamlit", "run", str(script), *STREAMLIT_SETTINGS, *streamlit_args, *app_args]


def cmd_dashboard(args: argparse.Namespace) -> NoReturn:
    """Become the Streamlit server: Ctrl-C, signals and the exit status are then Streamlit's own."""
    if args.max_jobs is not None and args.max_jobs < 1:
        raise WorkbenchError("--max-jobs must be 1 or more")
    command = streamlit_command(args.unknown_options, args.runs_dir, args.max_jobs, args.teacher)
    os.execv(command[0], command)


def tutorials() -> list[Path]:
    """The tutorials, in reading order.

    A wheel holds them in workbench/notebooks; a checkout (an editable install) keeps them in notebooks/
    beside the package, which setuptools' editable finder cannot import as `workbench.notebooks`.
    """
    package = Path(__file__).parent
    folder = next(d for d in (package / "notebooks", package.parent / "notebooks") if d.is_dir())
    return sorted(folder.glob("*.ipynb"))


def copy_notebooks(target: Path, force: bool = False) -> list[Path]:
    """Copy the tutorials into ``target``; refuse to overwrite a student's edited copy unless forced."""
    if target.exists() and not target.is_dir():
        raise WorkbenchError(f"{target} is a file; give a folder for the notebooks")
    sources = tutorials()
    existing = [target / f.name for f in sources if (target / f.name).exists()]
    if existing and not force:
        raise WorkbenchError(f"{existing[0]} already exists ({len(existing)} of the {len(sources)} tutorials "
                             "are there); --force overwrites them")
    try:
        target.mkdir(parents=True, exist_ok=True)
        for source in sources:
            (target / source.name).write_bytes(source.read_bytes())
    except OSError as exc:
        raise WorkbenchError(f"cannot write the notebooks to {target}: {exc.strerror}") from None
    return [target / f.name for f in sources]


def cmd_notebooks(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    copied = copy_notebooks(target, args.force)
    print(f"copied {len(copied)} tutorials to {target}; open them with: jupyter lab {target}")
    return 0
