"""What the dashboard's server was started with, and what a page may do where it is served.

The flags after ``--`` (`server_options`), the folders a class page may read (`folder_roots`), whether a teacher
page opens (`teacher_page_open`) and whether the browser will open its camera (`camera_allowed`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

import streamlit as st

from workbench.core.errors import WorkbenchError
from workbench.core.network import is_loopback
from workbench.core.settings import runs_dir, teacher_secret
from workbench.dashboard.owners import teacher_admitted
from workbench.data.gathered.quotas import QUOTA_FLAGS, Quotas
from workbench.data.roots import DataRoots
from workbench.spec.limits import LIMITS, Limits
from workbench.store.runs import RunStore


def server_options() -> argparse.Namespace:
    """What the server was started with, after ``--``: the run folder, how many jobs train at once, teacher mode,
    the folders whose image folders a class page may read (``--data-root``, repeatable)."""
    parser = argparse.ArgumentParser(allow_abbrev=False)  # `-- --runs x` is not --runs-dir
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("--max-jobs", type=int, default=None)
    parser.add_argument("--teacher", action="store_true")
    parser.add_argument("--data-root", action="append", default=[])
    for item in LIMITS:
        parser.add_argument(item.flag, type=int, default=None)
    for name, (flag, _) in QUOTA_FLAGS.items():
        parser.add_argument(f"--{flag}", dest=name, type=int, default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    # Absolute: a job's worker, started earlier (a prepared one), reads it from its own working folder.
    known.runs_dir = (Path(known.runs_dir) if known.runs_dir else runs_dir()).absolute()
    # What one Launch may ask for on a class page; the teacher's page, like the command line, is not limited.
    known.limits = None if known.teacher else Limits.of({item.name: getattr(known, item.name) for item in LIMITS})
    known.quotas = Quotas.of({name: getattr(known, name) for name in QUOTA_FLAGS})
    return known


def folder_roots(server: argparse.Namespace, store: RunStore, viewer: str | None) -> DataRoots | None:
    """Where a class page's image folders may be (`workbench.data.roots`), its own gathered datasets and the shared
    ones included; None on the teacher's page: any."""
    if server.teacher:
        return None
    try:
        return DataRoots.of(server.data_root, store.root, viewer or "")
    except WorkbenchError as exc:
        st.error(str(exc))
        st.stop()


def teacher_page_open(server: argparse.Namespace) -> bool:
    """A teacher page on this machine only opens as it is; one reachable from the network asks for the secret
    once, and without a secret (``streamlit run`` on every interface) it does not open at all."""
    secret = teacher_secret()
    if secret:
        return teacher_admitted(secret)
    if is_loopback(st.get_option("server.address")):
        return True
    st.error("This teacher page listens beyond this machine and has no secret, so it stays closed. Start it with "
             "`workbench dashboard --teacher` (it listens on 127.0.0.1, or makes a secret when given "
             "--server.address), or set WORKBENCH_TEACHER_SECRET.")
    return False


def camera_allowed(url: str | None) -> bool:
    """Browsers open the camera only on https:// or localhost (a page run by AppTest has no address: no camera)."""
    parts = urlsplit(url or "")
    return parts.scheme == "https" or is_loopback(parts.hostname)
