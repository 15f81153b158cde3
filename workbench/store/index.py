"""The run store's index: one SQLite row per run folder, for listing, filtering and a change feed.

Each run folder's ``record.json`` stays the record (written atomically, readable by hand, copied
with its folder); ``runs.db`` only indexes the records, so it can be deleted or lost and is
rebuilt from the folders. Every save updates its run's row in one short transaction; `sync`
catches up with records written without it (older workbenches, a copied folder, a writer killed
between its file and its row) by comparing each record file's (mtime, size, inode) with the
row's (every file in `RunStore.scan`; for listings only unfinished or unreadable runs, as a finished
record is never written again). SQLite in WAL mode lets several processes write while others read
(`workbench.core.sqlite`, which also sets a damaged ``runs.db`` aside: it is rebuilt from the folders).
A row still "running" whose writing process has died on this machine is read again, and its record
(`RunStore.load`) says failed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from workbench.core import sqlite as sqlite_files
from workbench.core.errors import RunStoreError
from workbench.core.processes import alive
from workbench.core.records import RunRecord
from workbench.store.filters import FILTERS, where_clause

INDEX_FILE = "runs.db"
ROW_VERSION = 4  # raise when `row_of` changes: an index with older rows is emptied and filled again
SCHEMA_VERSION = 1  # raise when a table's columns change: an index of another shape is dropped and made again
_COLUMNS = ("run_id", "stamp", "problem", "created", *FILTERS, "row")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, present INTEGER NOT NULL DEFAULT 1, seq INTEGER NOT NULL, stamp TEXT NOT NULL,
    problem TEXT, created TEXT, comparison_id TEXT, role TEXT, status TEXT,
    backbone TEXT, dataset TEXT, freeze_depth INTEGER, lr REAL, seed INTEGER, pretrained INTEGER,
    fingerprint TEXT, reused_from TEXT, row TEXT);
CREATE INDEX IF NOT EXISTS runs_seq ON runs(seq);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created, run_id);
CREATE INDEX IF NOT EXISTS runs_comparison ON runs(comparison_id);
CREATE INDEX IF NOT EXISTS runs_fingerprint ON runs(fingerprint, status);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
INSERT OR IGNORE INTO meta VALUES ('seq', 0);
"""
# The writer of a record puts its row as it is. An import by a reader replaces only the row it saw
# (``stamp IS ?``: the stamp it compared, NULL for a folder it did not know) or a removed run's, so a
# reader that read epoch 2 just before its writer saved epoch 3 cannot put epoch 2 back.
_UPSERT = f"""
INSERT INTO runs (present, seq, {', '.join(_COLUMNS)}) VALUES (1, ?, {', '.join('?' * len(_COLUMNS))})
ON CONFLICT(run_id) DO UPDATE SET present = 1, seq = excluded.seq,
    {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS[1:])}
"""
_IMPORT = _UPSERT + "WHERE runs.present = 0 OR runs.stamp IS ?"


def row_of(record: RunRecord) -> dict:
    """What a run list shows of a run: its summary without the per-epoch records."""
    row = record.summary()
    row["epochs_done"] = len(row.pop("epochs"))
    row.update(comparison_id=record.comparison_id, dataset=record.config.get("dataset"),
               init_run=record.config.get("init_run"), created=record.created, finished=record.finished,
               fingerprint=record.fingerprint, pid=record.pid, host=record.host,
               config=record.config)  # every setting: `workbench runs` shows those that differ between runs
    return row


def file_stamp(path: Path | str) -> str:
    """mtime:size:inode: an atomic replace always makes a new inode, an edit in place a new mtime."""
    stat = os.stat(path)
    return f"{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ino}"


@dataclass
class Changes:
    """What a refresh needs: the runs added or changed since a token, and the token to ask with next."""

    token: str
    runs: list[dict] = field(default_factory=list)  # index rows, newest first
    removed: list[str] = field(default_factory=list)  # runs whose folders are gone
    unreadable: dict[str, str] = field(default_factory=dict)  # changed runs whose record cannot be read
    full: bool = False  # the token was None or from another index: `runs` is everything, drop what you had


class RunIndex:
    """The SQLite index of one run folder; ``read(run_id)`` loads a record file (or raises RunStoreError)."""

    def __init__(self, root: Path, read: Callable[[str], RunRecord], is_run_id: Callable[[str], bool],
                 record_file: str):
        self.root, self.read, self.is_run_id, self.record_file = root, read, is_run_id, record_file

    @contextmanager
    def _db(self):
        """A connection to ``runs.db``, or to a fresh in-memory index where the folder is read-only.

        A damaged ``runs.db`` is set aside and made again (`core.sqlite`): it is only an index, rebuilt from the folders.
        """
        try:
            db = sqlite_files.connect(self.root / INDEX_FILE, _prepare)
        except sqlite3.DatabaseError as exc:
            if os.access(self.root, os.W_OK):
                raise RunStoreError(f"cannot open the run index {self.root / INDEX_FILE} ({exc})") from exc
            db = sqlite_files.connect(sqlite_files.MEMORY, _prepare)
        with closing(db):
            yield db

    # --- writing ------------------------------------------------------------------------------

    def put(self, record: RunRecord, stamp: str) -> None:
        """Index a record just written; its file is already safe, so a busy or full index waits for `sync`."""
        try:
            with self._db() as db, _writing(db) as seq:
                db.execute(_UPSERT, (seq(1), *_values(record.run_id, stamp, record, None)))
        except (sqlite3.Error, RunStoreError):
            pass

    def sync(self, db: sqlite3.Connection, full: bool = False) -> None:
        """Import folders the index does not know, forget removed ones, re-read record files that changed.

        Unless ``full``, only unsettled runs (running, or unreadable) are checked for changes: a
        finished run's record is not written again, so a listing need not stat every file.
        """
        names = self._folders()
        known = dict(db.execute("SELECT run_id, stamp FROM runs WHERE present = 1"))
        running = db.execute("SELECT run_id, row FROM runs WHERE present = 1 AND status = 'running'").fetchall()
        suspects = names if full else [*(r for r, _ in running), *(r for (r,) in db.execute(
            "SELECT run_id FROM runs WHERE present = 1 AND problem IS NOT NULL"))]
        changed = [r for r in names if r not in known]
        for run_id in suspects:
            if run_id in known and run_id in names and self._stamp(run_id) not in (None, known[run_id]):
                changed.append(run_id)
        changed += [r for r in _orphans(running) if r in names and r not in changed]  # re-read: the record says failed
        gone = [r for r in known if r not in names]
        rows = []
        for run_id in changed:
            try:
                stamp = file_stamp(os.path.join(self.root, run_id, self.record_file))
                record, problem = self.read(run_id), None
            except OSError:
                continue  # a folder whose record is not written yet, or removed since the listing
            except RunStoreError as exc:
                record, problem = None, str(exc)
            rows.append((*_values(run_id, stamp, record, problem), known.get(run_id)))
        if not rows and not gone:
            return
        with _writing(db) as seq:
            first = seq(len(rows) + len(gone))
            db.executemany(_IMPORT, [(first + i, *row) for i, row in enumerate(rows)])
            db.executemany("UPDATE runs SET present = 0, seq = ? WHERE run_id = ?",
                           [(first + len(rows) + i, r) for i, r in enumerate(gone)])

    def _stamp(self, run_id: str) -> str | None:
        try:  # plain strings: pathlib would cost more than the stat itself, thousands of times over
            return file_stamp(os.path.join(self.root, run_id, self.record_file))
        except OSError:
            return None  # removed since the listing: the next one notices

    def _folders(self) -> set[str]:
        with os.scandir(self.root) as entries:
            return {e.name for e in entries if self.is_run_id(e.name) and e.is_dir()}

    # --- reading ------------------------------------------------------------------------------

    def list(self, filters: dict, full: bool = False) -> tuple[list[dict], dict[str, str]]:
        """Readable runs matching ``filters`` (column -> value or list of values), newest first; unreadable ones.

        ``full`` checks every record file for changes made outside the store (edits by hand).
        """
        where, values = where_clause(filters)
        if not self.root.is_dir():
            return [], {}
        with self._db() as db:
            self.sync(db, full)
            rows = db.execute(f"SELECT row FROM runs WHERE present = 1 AND problem IS NULL{where} "
                              "ORDER BY created DESC, run_id DESC", values).fetchall()
            problems = dict(db.execute("SELECT run_id, problem FROM runs WHERE present = 1 AND problem IS NOT NULL "
                                       "ORDER BY run_id"))
        return json.loads(f"[{','.join(r for (r,) in rows)}]"), problems  # one parse, not one per run

    def changes(self, token: str | None) -> Changes:
        """Rows changed since ``token`` (from an earlier `Changes`); new and removed folders are noticed too."""
        if not self.root.is_dir():
            return Changes(token="", full=True)
        with self._db() as db:
            self.sync(db)
            generation, seq = _token(db)
            since = _since(token, generation)
            rows = db.execute("SELECT run_id, present, problem, row FROM runs WHERE seq > ? "
                              "ORDER BY created DESC, run_id DESC", (since,)).fetchall()
        changes = Changes(token=f"{generation}.{seq}", full=since == -1)
        for run_id, present, problem, row in rows:
            if not present:
                changes.removed.append(run_id)
            elif problem:
                changes.unreadable[run_id] = problem
            else:
                changes.runs.append(json.loads(row))
        return changes

    def find_completed(self, fingerprint: str) -> list[str]:
        """Completed runs with this fingerprint, the ones trained (not reused) and oldest first."""
        if not (self.root / INDEX_FILE).exists():
            return []
        with self._db() as db:
            rows = db.execute("SELECT run_id FROM runs WHERE fingerprint = ? AND status = 'completed' "
                              "AND present = 1 AND problem IS NULL ORDER BY reused_from IS NOT NULL, created",
                              (fingerprint,)).fetchall()
        return [r for (r,) in rows]


def _prepare(db: sqlite3.Connection) -> None:
    """The tables, and rows of the current shape (`core.sqlite.connect` runs this on every connection)."""
    if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        _create(db)
    if not _rows_current(db):
        # A new index, or rows of another shape: (re)filled from the folders under a new generation,
        # so a token from before is recognised as stale. Checked again inside the transaction: another
        # process may have done it, and rows may have arrived since.
        with _writing(db):
            if not _rows_current(db):
                db.execute("DELETE FROM runs")
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [("rows", ROW_VERSION), ("generation", uuid.uuid4().hex[:12])])


def _create(db: sqlite3.Connection) -> None:
    """The tables, made again if an older workbench made them with other columns (it is only an index:
    the rows come back from the folders). Checked again inside the transaction: another process may
    have just done it."""
    with sqlite_files.transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            db.execute("DROP TABLE IF EXISTS runs")
            db.execute("DROP TABLE IF EXISTS meta")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _orphans(running: list[tuple[str, str]]) -> list[str]:
    """Runs whose rows say running while the process that writes them has ended on this machine."""
    orphans = []
    for run_id, row in running:
        try:
            writer = json.loads(row)
        except (TypeError, ValueError):
            continue
        if not alive(writer.get("pid"), writer.get("host")):
            orphans.append(run_id)
    return orphans


def _rows_current(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone() == (ROW_VERSION,)


@contextmanager
def _writing(db: sqlite3.Connection):
    """One write transaction; ``seq(n)`` reserves n change numbers and returns the first."""
    def seq(n: int) -> int:
        (last,) = db.execute("UPDATE meta SET value = value + ? WHERE key = 'seq' RETURNING value", (n,)).fetchone()
        return last - n + 1

    with sqlite_files.transaction(db):
        yield seq


def _values(run_id: str, stamp: str, record: RunRecord | None, problem: str | None) -> tuple:
    if record is None:
        return (run_id, stamp, problem, None, *([None] * len(FILTERS)), None)
    row = row_of(record)
    return (run_id, stamp, None, record.created, *(row.get(c) for c in FILTERS), json.dumps(row))


def _token(db: sqlite3.Connection) -> tuple[str, int]:
    meta = dict(db.execute("SELECT key, value FROM meta"))
    return meta["generation"], meta["seq"]


def _since(token: str | None, generation: str) -> int:
    """The change number a token stands for, or -1 (everything) for no token or another index's."""
    if not token or token.partition(".")[0] != generation:
        return -1
    try:
        return int(token.partition(".")[2])
    except ValueError:
        return -1
