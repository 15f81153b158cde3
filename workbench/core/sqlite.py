"""The one way the workbench opens its SQLite files: the run index (``runs.db``) and the job queue (``jobs.db``).

Both live in the run folder and are shared by every process that uses it (a dashboard, its workers, a
terminal's commands), so each connection waits for another's lock instead of failing (`BUSY_TIMEOUT_S`),
and the files are in WAL mode: readers never wait for a writer, and a writer killed mid-transaction
leaves the last committed state. Transactions are explicit (`transaction`), one short one per change.

Neither file is the only copy of anything that matters (the index is rebuilt from the record files; the
queue only orders jobs whose processes are alive), so a file that is not a database, or a damaged one,
is set aside as ``NAME.corrupt-<time>`` for whoever wants to look at it, and a new one is made.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Callable

BUSY_TIMEOUT_S = 30.0  # a writer waits this long for another's transaction (each takes milliseconds)
MEMORY = ":memory:"


def is_corrupt(exc: BaseException) -> bool:
    """SQLite's "file is not a database" or "database disk image is malformed"."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text)


def is_full(exc: BaseException) -> bool:
    return "full" in str(exc).lower()


def inode(path: Path | str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def set_aside(path: Path | str, expected_inode: int | None = None) -> Path | None:
    """Rename a damaged database and its ``-wal`` and ``-shm`` files to ``NAME.corrupt-<time>``; the new name.

    With ``expected_inode``, only the file that was found damaged is moved: another process may have set
    it aside already and made a good one in its place. None when nothing was moved.
    """
    path = Path(path)
    if expected_inode is not None and inode(path) != expected_inode:
        return None
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        path.rename(aside)
    except FileNotFoundError:
        return None  # another process set it aside first
    for suffix in ("-wal", "-shm"):  # a log of the old file must not be replayed into the new one
        with suppress(OSError):
            path.with_name(path.name + suffix).rename(aside.with_name(aside.name + suffix))
    return aside


def connect(path: Path | str, setup: Callable[[sqlite3.Connection], None] | None = None,
            timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection in autocommit mode that waits ``timeout_s`` for locks, in WAL mode; ``setup(db)`` then makes
    the tables. A damaged file is set aside and made again, once; other errors (a read-only or full disk) are raised.
    """
    for attempt in (1, 2):
        found = None if str(path) == MEMORY else inode(path)
        db = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal" and str(path) != MEMORY:
                db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a crash may lose the last rows, never corrupt
            if setup is not None:
                setup(db)
            return db
        except sqlite3.DatabaseError as exc:
            db.close()
            if attempt == 2 or not is_corrupt(exc) or str(path) == MEMORY:
                raise
            set_aside(path, found)
        except BaseException:
            db.close()
            raise
    raise AssertionError("unreachable")


@contextmanager
def transaction(db: sqlite3.Connection):
    """One write transaction, taken at once (``BEGIN IMMEDIATE``: no deadlock between two readers turning writers)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
