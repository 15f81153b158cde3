"""Files written beside their destination and renamed into place, with the permissions any file gets.

`tempfile.mkstemp` makes its file readable by its owner only (0600), and a rename keeps that: a record,
a checkpoint or a weights file placed that way could not be read by the other accounts sharing a run
folder or a ``TORCH_HOME``. Here the temporary file gets what ``open()`` would give it: 0666 less the
process umask.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

_umask_lock = threading.Lock()


def umask() -> int:
    """The process umask, read without changing it where the system says it (Linux), else set and put back."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:  # other threads of this process may create files meanwhile: keep the window short
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 less the umask (0644 under the usual 022)."""
    return 0o666 & ~umask()


def temporary_beside(folder: Path | str, name: str, suffix: str = ".tmp", private: bool = False) -> tuple[int, Path]:
    """A new hidden file in ``folder`` (an open descriptor and its path) with the usual permissions (``private``:
    readable by its owner only, from the first byte: a key)."""
    handle, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=suffix)  # 0600
    if private:
        return handle, Path(path)
    try:
        os.fchmod(handle, file_mode())
    except OSError:
        pass  # a file system without permissions (FAT on a USB stick): nothing to widen
    return handle, Path(path)


def write_atomically(path: Path, write, private: bool = False) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``: a reader sees the old file or
    the new one, never half of one (a full disk or a crash leaves the old file and no temporary behind)."""
    handle, temporary = temporary_beside(path.parent, path.name, private=private)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
