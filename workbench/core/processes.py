"""Whether the process that holds something (a queue slot, a running record) is still alive."""

from __future__ import annotations

import os
import socket


def this_process() -> tuple[int, str]:
    """(pid, host name) of this process, as the queue and the run records name a writer."""
    return os.getpid(), socket.gethostname()


def alive(pid: int | None, host: str | None) -> bool:
    """False only when ``pid`` on this machine has certainly ended; another machine's process cannot be checked."""
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another account's process (it exists), or a number no process can have
    return True
