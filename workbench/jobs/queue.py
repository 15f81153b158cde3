"""The training queue of one run folder: who waits, who trains, at most K at once, across processes.

A dashboard serving a class and a `workbench compare` typed in a terminal on the same machine and run
folder share it: each job takes a row in ``jobs.db`` beside the runs, waits in order, and trains once
fewer than K jobs do. A row names the process that holds it; a job whose process has died is ended
(``failed``) by whoever looks next, so a crashed server or a killed terminal never holds a slot. The
queue keeps who launched each comparison (an owner id and a display name), which the class board reads.

A Stop from another process (a teacher's page) reaches the job, never a server: a terminal's job is its
own process (``holder = 'process'``) and gets a Ctrl-C (SIGINT); a dashboard's job is held by the server
that serves a whole class (``holder = 'server'``), so the row only records the request (``stop_asked``)
and that server, which looks at its rows every fraction of a second, stops its own job.

K (``max_jobs``) defaults to half the cores, each job then training with ``cores // K`` threads: on a
2-core laptop one job at a time at full speed, as before, and the others wait their turn.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import sys
import time
import uuid
from contextlib import closing, contextmanager, suppress
from pathlib import Path

from workbench.core import settings
from workbench.core import sqlite as sqlite_files
from workbench.core.errors import RunStoreError, WorkbenchError
from workbench.core.processes import alive

QUEUE_FILE = "jobs.db"
ENDED = ("completed", "interrupted", "failed", "cancelled")
BUSY_TIMEOUT_S = sqlite_files.BUSY_TIMEOUT_S
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT UNIQUE NOT NULL, owner TEXT, name TEXT, label TEXT,
    state TEXT NOT NULL, created REAL NOT NULL, started REAL, ended REAL, pid INTEGER, host TEXT,
    comparison_ids TEXT NOT NULL DEFAULT '[]', error TEXT, holder TEXT NOT NULL DEFAULT 'server', stop_asked REAL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
"""
# Columns added since the first queues were made; an older jobs.db gets them when first opened.
_ADDED = {"holder": "TEXT NOT NULL DEFAULT 'server'", "stop_asked": "REAL"}


def _create_tables(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)
    have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    for column, kind in _ADDED.items():
        if column not in have:
            with suppress(sqlite3.OperationalError):  # another process added it first
                db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")


class JobQueue:
    """The queue in ``root/jobs.db``; every method is one short transaction, safe across processes."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._made = False  # the table and WAL mode are set up once per queue object, not per call

    @contextmanager
    def _db(self, write: bool = False):
        """A connection (`core.sqlite`: timeouts, WAL; a damaged ``jobs.db`` is set aside and made again, as the
        run index is: it only orders jobs, and a job whose row is gone is ended as if taken off the line)."""
        path = self.root / QUEUE_FILE
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._made = self._made and path.exists()  # a deleted queue is made again
            db = sqlite_files.connect(path, None if self._made else _create_tables, BUSY_TIMEOUT_S)
            self._made, opened = True, sqlite_files.inode(path)
        except (OSError, sqlite3.Error) as exc:
            raise RunStoreError(f"cannot open the job queue in {self.root} ({exc}); "
                                f"{_fix(exc)} or choose a writable folder with --runs-dir") from exc
        with closing(db):
            try:
                if write:
                    db.execute("BEGIN IMMEDIATE")
                yield db
                if write:
                    db.execute("COMMIT")
            except sqlite3.Error as exc:
                _roll_back(db)
                if sqlite_files.is_corrupt(exc):  # damage past the first page shows only now
                    db.close()
                    aside = sqlite_files.set_aside(path, opened)
                    self._made = False
                    raise RunStoreError(f"the job queue {path} was damaged"
                                        + (f" (set aside as {aside.name})" if aside else "")
                                        + "; a new one is made: try again") from exc
                raise RunStoreError(f"the job queue in {path} failed ({exc}); {_fix(exc)} or choose another folder "
                                    f"with --runs-dir") from exc
            except BaseException:
                _roll_back(db)
                raise

    def add(self, owner: str, name: str = "", label: str = "comparison", comparison_ids: list[str] = (),
            pid: int | None = None, holder: str = "server") -> str:
        """Queue a job held by process ``pid`` (default: this one); its id. ``holder``: ``process`` when that
        process is the job (a terminal's: a Stop interrupts it), ``server`` when it serves others too."""
        assert holder in ("server", "process"), holder
        job_id = uuid.uuid4().hex[:12]
        with self._db(write=True) as db:
            db.execute("INSERT INTO jobs (job_id, owner, name, label, state, created, pid, host, comparison_ids, "
                       "holder) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                       (job_id, owner, name.strip(), label, time.time(), pid or os.getpid(), socket.gethostname(),
                        json.dumps(list(comparison_ids)), holder))
        return job_id

    def try_start(self, job_id: str, max_jobs: int) -> bool:
        """Mark the job running if it is first in line and fewer than ``max_jobs`` train; whether it may start."""
        with self._db(write=True) as db:
            _end_orphans(db)
            row = db.execute("SELECT seq, state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None or row[1] != "queued":
                return row is not None and row[1] == "running"
            (ahead,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq < ?", (row[0],)).fetchone()
            (training,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()
            if ahead or training >= max_jobs:
                return False
            db.execute("UPDATE jobs SET state = 'running', started = ? WHERE job_id = ?", (time.time(), job_id))
            return True

    def finish(self, job_id: str, state: str, error: str | None = None) -> None:
        """End a job (its slot or its place in line is freed)."""
        assert state in ENDED, state
        with self._db(write=True) as db:
            db.execute("UPDATE jobs SET state = ?, ended = ?, error = ? WHERE job_id = ? AND state IN "
                       "('queued', 'running')", (state, time.time(), error, job_id))

    def position(self, job_id: str) -> int | None:
        """1 for the next job to start, 2 for the one after...; None once it trains or has ended."""
        with self._db() as db:
            row = db.execute("SELECT seq, state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None or row[1] != "queued":
                return None
            return db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq <= ?", (row[0],)).fetchone()[0]

    def jobs(self, states: tuple[str, ...] | None = None) -> list[dict]:
        """Every job (or those in ``states``), oldest first, as dicts; ended orphans are ended first."""
        if not (self.root / QUEUE_FILE).exists():
            return []
        with self._db() as db:  # every page reads this every few seconds: a write lock only where a job is orphaned
            orphaned = any(not alive(pid, host) for pid, host in db.execute(
                "SELECT pid, host FROM jobs WHERE state IN ('queued', 'running')"))
            rows = None if orphaned else _select(db, states)
        if orphaned:
            with self._db(write=True) as db:
                _end_orphans(db)
            with self._db() as db:
                rows = _select(db, states)
        for row in rows:
            row["comparison_ids"] = json.loads(row["comparison_ids"])
        return rows

    def stop(self, job_id: str) -> None:
        """Stop another process's job (a teacher's page): out of the line if it waits; if it trains, a terminal's
        job gets a Ctrl-C, and a dashboard's job a request its server carries out (`stops_asked`). Either way
        the run in progress is saved as interrupted with its finished epochs.

        A server's process is never signalled: it serves a whole class, and a SIGINT would end it.
        """
        with self._db(write=True) as db:
            row = db.execute("SELECT state, pid, host, holder FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row and row[0] == "queued":
                db.execute("UPDATE jobs SET state = 'cancelled', ended = ?, error = 'stopped by the teacher' "
                           "WHERE job_id = ?", (time.time(), job_id))
            elif row and row[0] == "running":
                db.execute("UPDATE jobs SET stop_asked = ? WHERE job_id = ?", (time.time(), job_id))
        if row and row[0] == "running" and row[3] == "process" and row[2] == socket.gethostname() \
                and row[1] != os.getpid():
            with suppress(ProcessLookupError, PermissionError):
                os.kill(row[1], signal.SIGINT)

    def look(self, job_ids: list[str]) -> dict[str, dict]:
        """{job id: {state, stop_asked}} of these jobs, one read: what a server checks for its own jobs."""
        if not job_ids:
            return {}
        with self._db() as db:
            rows = db.execute(f"SELECT job_id, state, stop_asked FROM jobs WHERE job_id IN "
                              f"({', '.join('?' * len(job_ids))})", list(job_ids)).fetchall()
        return {job_id: {"state": state, "stop_asked": asked} for job_id, state, asked in rows}

    def owners(self) -> dict[str, dict]:
        """comparison id -> {owner, name} of the job that made it: who ran what, for the class board."""
        return {c: {"owner": job["owner"], "name": job["name"]} for job in self.jobs() for c in job["comparison_ids"]}


def _roll_back(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")


def _fix(exc: BaseException) -> str:
    return "free some space" if sqlite_files.is_full(exc) else "check that the folder is writable"


def _select(db: sqlite3.Connection, states: tuple[str, ...] | None) -> list[dict]:
    db.row_factory = sqlite3.Row
    query = "SELECT * FROM jobs" + (f" WHERE state IN ({', '.join('?' * len(states))})" if states else "")
    return [dict(r) for r in db.execute(query + " ORDER BY seq", states or ())]


def _end_orphans(db: sqlite3.Connection) -> None:
    """Jobs whose holding process has died never finish: end them so that their slots free up."""
    for job_id, state, pid, host in db.execute("SELECT job_id, state, pid, host FROM jobs "
                                               "WHERE state IN ('queued', 'running')").fetchall():
        if not alive(pid, host):
            db.execute("UPDATE jobs SET state = ?, ended = ?, error = ? WHERE job_id = ?",
                       ("failed" if state == "running" else "cancelled", time.time(),
                        f"its process ({pid}) ended without finishing it", job_id))


@contextmanager
def queue_slot(root: str | Path, label: str, comparison_ids: list[str] = (), max_jobs: int | None = None,
               say=lambda line: print(line, file=sys.stderr), poll_s: float = 1.0):
    """Wait for a training slot in ``root``'s queue (saying where this job stands), hold it, free it at the end.

    For the CLI: a terminal's job queues behind a class's dashboard jobs in the same run folder.
    """
    queue = JobQueue(root)
    limit = max_jobs or settings.max_jobs()
    owner = f"cli:{settings.user_name() or os.getpid()}"
    job_id = queue.add(owner, settings.user_name(), label, comparison_ids, holder="process")
    try:
        shown = None
        while not queue.try_start(job_id, limit):
            where = queue.position(job_id)
            if where is None:
                raise WorkbenchError("this job was taken off the queue (stopped from the dashboard's teacher mode?)")
            if where != shown:
                say(f"waiting for a training slot in {root}: number {where} in line ({limit} may train at once)")
                shown = where
            time.sleep(poll_s)
        yield job_id
    except KeyboardInterrupt:
        queue.finish(job_id, "interrupted")
        raise
    except BaseException as exc:
        queue.finish(job_id, "failed", str(exc) or type(exc).__name__)
        raise
    queue.finish(job_id, "completed")
