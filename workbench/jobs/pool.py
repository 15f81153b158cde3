"""One worker process kept warm ahead of the next job, so its first epoch follows the click within a second.

The worker is a plain ``python -c`` process, not a multiprocessing child: multiprocessing's spawn re-imports
the parent's main module, and under Streamlit that is the app itself (each job re-ran the page in the worker:
a 6-7 s dead start and a hundred warnings). A prepared worker is kept while the variables it reads
(`settings.worker_environment`: weights and caches, threads, devices, the workbench's own) stay the same; others
change under a server without mattering (pytest's current test, OpenMP's KMP_* set by importing torch).
"""

from __future__ import annotations

import subprocess
import sys
import threading

from workbench.core import settings

WORKER_COMMAND = [sys.executable, "-c", "from workbench.jobs.worker import serve; serve()"]


_spare: tuple[subprocess.Popen, dict] | None = None
_spare_lock = threading.Lock()


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)


def _ready(spare: tuple[subprocess.Popen, dict] | None) -> bool:
    """A prepared worker can take a job if it is alive and was started with the settings we have now."""
    return spare is not None and spare[0].poll() is None and spare[1] == settings.worker_environment()


def prepare_worker() -> None:
    """Start the next job's worker now, while nothing trains, so its warm-up is done before the click."""
    global _spare
    with _spare_lock:
        if not _ready(_spare):
            if _spare is not None:
                _spare[0].stdin.close()  # it ends when its input does
            _spare = (_start_worker(), settings.worker_environment())


def take_worker() -> subprocess.Popen:
    """The prepared worker if it is ready, else a new one."""
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if _ready(spare):
        return spare[0]
    if spare is not None:
        spare[0].stdin.close()
    return _start_worker()
