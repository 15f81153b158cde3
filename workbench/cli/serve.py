"""`workbench dashboard` and `workbench notebooks DIR`: what ships inside the package, served or copied out.

A pip-installed workbench has no checkout around it, so the Streamlit app and the tutorials travel in
the wheel (pyproject.toml maps the repository's notebooks/ to `workbench.notebooks`) and these two
commands find them there.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import NoReturn

from workbench.cli.https import certificate
from workbench.core import settings
from workbench.core.errors import WorkbenchError
from workbench.core.network import LOOPBACK, SELF_SIGNED_HELP, is_loopback
from workbench.data.gathered.quotas import QUOTA_FLAGS, Quotas
from workbench.data.roots import DataRoots
from workbench.spec.lesson_files import ClassLesson, find_lesson
from workbench.spec.limits import LIMITS, Limits

# What the checkout's .streamlit/config.toml says. Streamlit reads that file only from the folder it
# starts in, so the installed command passes the same settings as flags; the user's flags come later
# and win.
STREAMLIT_SETTINGS = ["--server.fileWatcherType", "none", "--server.showEmailPrompt", "false",
                      "--browser.gatherUsageStats", "false",
                      "--runner.postScriptGC", "false", "--client.toolbarMode", "viewer",
                      "--client.showErrorDetails", "type", "--server.maxUploadSize", "50"]


def add_commands(commands) -> None:
    """The two subcommands, on the CLI's subparsers."""
    dashboard = commands.add_parser(
        "dashboard", help="serve the dashboard (Streamlit options pass through, e.g. --server.port 8600)",
        usage="workbench dashboard [--runs-dir PATH] [--max-jobs K] [--teacher [--teacher-secret S]] [--https] "
              "[--lesson FILE] [--data-root DIR] [--max-runs-per-launch N ...] [STREAMLIT OPTIONS]",
        epilog="Other options go to `streamlit run` (see `python -m streamlit run --help`).")
    dashboard.add_argument("--runs-dir", default=None, help="run folder (default $WORKBENCH_RUNS or ./runs)")
    dashboard.add_argument("--max-jobs", type=int, default=None, metavar="K",
                           help="jobs that train at once, the rest wait in line (default: half the cores, "
                                "or $WORKBENCH_MAX_JOBS)")
    dashboard.add_argument("--teacher", action="store_true",
                           help="teacher mode: every page can stop anyone's job; it listens on 127.0.0.1 unless "
                                "--server.address says otherwise, and then asks for a secret")
    dashboard.add_argument("--teacher-secret", default=None, metavar="S",
                           help="the secret a networked teacher page asks for (default: one made and printed at "
                                "start, or $WORKBENCH_TEACHER_SECRET)")
    dashboard.add_argument("--https", action="store_true",
                           help="serve over HTTPS with a self-signed certificate kept in the run folder (browsers "
                                "open the camera only on https:// or localhost)")
    dashboard.add_argument("--data-root", action="append", default=None, metavar="DIR",
                           help="a folder whose image folders students may train on (repeatable); without it a "
                                "class page reads no folder typed in, the teacher's page any")
    dashboard.add_argument("--lesson", default=None, metavar="FILE",
                           help="serve a lesson: a lesson file (.toml) or a shipped lesson's name (`workbench lesson "
                                "list`); its pages show only the settings it lets students change ('none' ends it)")
    for name, (flag, what) in QUOTA_FLAGS.items():  # what students may keep on the class server
        dashboard.add_argument(f"--{flag}", dest=name, type=int, default=None, metavar="N",
                               help=f"{what} (default {getattr(Quotas(), name)})")
    for item in LIMITS:  # what one Launch on a class page may ask for (workbench.spec.limits)
        dashboard.add_argument(item.flag, type=int, default=None, metavar="N",
                               help=f"{item.help} (default {item.default}; 0: no limit)")
    dashboard.set_defaults(handler=cmd_dashboard, passes_unknown_options=True)

    notebooks = commands.add_parser("notebooks", help="copy the tutorial notebooks into DIR to work on")
    notebooks.add_argument("dir", metavar="DIR")
    notebooks.add_argument("--force", action="store_true", help="overwrite tutorials already in DIR")
    notebooks.set_defaults(handler=cmd_notebooks)


def streamlit_command(streamlit_args: list[str], runs_dir: str | None = None, max_jobs: int | None = None,
                      teacher: bool = False, data_roots: list[str] | None = None,
                      limits: dict[str, int | None] | None = None,
                      quotas: dict[str, int | None] | None = None) -> list[str]:
    """``python -m streamlit run <packaged app>`` with this interpreter, so the app sees this install."""
    script = Path(__file__).parent.parent / "dashboard" / "script.py"
    app_args = (["--runs-dir", runs_dir] if runs_dir else []) + (["--max-jobs", str(max_jobs)] if max_jobs else []) \
        + (["--teacher"] if teacher else []) + [arg for root in data_roots or [] for arg in ("--data-root", root)] \
        + [arg for item in LIMITS if (limits or {}).get(item.name) is not None
           for arg in (item.flag, str(limits[item.name]))] \
        + [arg for name, value in (quotas or {}).items() if value is not None
           for arg in (f"--{QUOTA_FLAGS[name][0]}", str(value))]
    if app_args and "--" not in streamlit_args:
        app_args.insert(0, "--")
    return [sys.executable, "-m", "streamlit", "run", str(script), *STREAMLIT_SETTINGS, *streamlit_args, *app_args]


def cmd_dashboard(args: argparse.Namespace) -> NoReturn:
    """Become the Streamlit server: Ctrl-C, signals and the exit status are then Streamlit's own."""
    if args.max_jobs is not None and args.max_jobs < 1:
        raise WorkbenchError("--max-jobs must be 1 or more")
    roots = [str(root) for root in DataRoots.of(args.data_root, Path(".")).named]  # each an existing folder
    limits = {item.name: getattr(args, item.name) for item in LIMITS}
    Limits.of(limits)  # a negative limit is refused here, before the server starts
    quotas = {name: getattr(args, name) for name in QUOTA_FLAGS}
    Quotas.of(quotas)
    if args.lesson is not None:
        serve_lesson(args.lesson, Path(args.runs_dir) if args.runs_dir else settings.runs_dir())
    streamlit_args = list(args.unknown_options)
    if args.teacher:
        streamlit_args = teacher_address(streamlit_args, args.teacher_secret)
    elif args.teacher_secret:
        raise WorkbenchError("--teacher-secret goes with --teacher")
    if args.https:
        streamlit_args = https_options(streamlit_args, Path(args.runs_dir) if args.runs_dir else settings.runs_dir())
    command = streamlit_command(streamlit_args, args.runs_dir, args.max_jobs, args.teacher, roots, limits, quotas)
    os.execv(command[0], command)


def serve_lesson(name: str, runs_dir: Path) -> None:
    """The class's lesson, checked before the server starts and kept in the run folder, where the class pages read
    it and the teacher's page can change it; 'none' ends the lesson."""
    lesson = None if name == "none" else find_lesson(name)
    ClassLesson(lesson, ClassLesson.read(runs_dir).require_prediction).write(runs_dir)
    print(f"lesson: {lesson.title}" if lesson else "no lesson", file=sys.stderr, flush=True)


def https_options(streamlit_args: list[str], runs_dir: Path) -> list[str]:
    """Streamlit's certificate options, pointing at this machine's self-signed certificate (made if needed), and
    what the teacher needs to know about it, printed where the server starts."""
    cert, key, fingerprint = certificate(runs_dir)
    print(f"serving over HTTPS with a self-signed certificate ({cert})\n  SHA-256 fingerprint: {fingerprint}\n"
          f"  {SELF_SIGNED_HELP}", file=sys.stderr, flush=True)
    return ["--server.sslCertFile", str(cert), "--server.sslKeyFile", str(key), *streamlit_args]


def server_address(streamlit_args: list[str]) -> str | None:
    """The ``--server.address`` among Streamlit's options (before any ``--``), if given."""
    before = streamlit_args[:streamlit_args.index("--")] if "--" in streamlit_args else streamlit_args
    for i, arg in enumerate(before):
        if arg == "--server.address":
            return before[i + 1] if i + 1 < len(before) else ""
        if arg.startswith("--server.address="):
            return arg.split("=", 1)[1]
    return None


def teacher_address(streamlit_args: list[str], secret: str | None) -> list[str]:
    """Teacher mode listens on 127.0.0.1 unless told otherwise; told otherwise, its page asks for a secret: the
    one given, else one made now and printed here, in the teacher's terminal (handed to the server through its
    environment)."""
    address = server_address(streamlit_args)
    if address is None:
        streamlit_args = ["--server.address", LOOPBACK, *streamlit_args]
        address = LOOPBACK
    secret = secret or settings.teacher_secret()
    if not is_loopback(address) and not secret:
        secret = secrets.token_urlsafe(9)
        print(f"teacher secret: {secret}\n  (the teacher page on {address or 'every interface'} asks for it once; "
              f"keep it from the class, or choose one with --teacher-secret)", file=sys.stderr, flush=True)
    if secret:
        settings.share_teacher_secret(secret)
    return streamlit_args


def tutorials() -> list[Path]:
    """The tutorials, in reading order.

    A wheel holds them in workbench/notebooks; a checkout (an editable install) keeps them in notebooks/
    beside the package, which setuptools' editable finder cannot import as `workbench.notebooks`.
    """
    package = Path(__file__).parent.parent  # workbench/, this module being workbench/cli/serve.py
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
