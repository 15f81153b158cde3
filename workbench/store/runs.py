"""The run store: one folder per run, one JSON record each, always written atomically, and an index.

A record is replaced in a single ``os.replace`` after every epoch, so a crash, a Ctrl-C or a
second process writing beside us never leaves a half-written file, and readers always see
either the previous or the next complete version. Listing, filtering, the change feed and the
reuse lookup read the SQLite index beside the folders (`workbench.store.index`), not every file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path

from workbench.core import settings
from workbench.core.errors import RunStoreError
from workbench.core.files import write_atomically
from workbench.core.processes import alive, this_process
from workbench.core.records import RunRecord
from workbench.store.index import Changes, RunIndex, file_stamp
from workbench.store.predictions import Prediction, Predictions

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}$")
RECORD_FILE = "record.json"
CHECKPOINT_FILE = "model.pt"


def new_id(prefix: str = "") -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{prefix}{stamp}-{uuid.uuid4().hex[:6]}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunStore:
    """Save, list, load and export run records under one folder."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else settings.runs_dir()
        self.index = RunIndex(self.root, self.load, lambda name: bool(RUN_ID.match(name)), RECORD_FILE)
        self.predictions = Predictions(self.root)

    def _folder(self, run_id: str) -> Path:
        if not RUN_ID.match(run_id):
            raise RunStoreError(f"{run_id!r} is not a run id; run ids use letters, digits, '-' and '_' only")
        return self.root / run_id

    def save(self, record: RunRecord) -> None:
        """Write the record (atomically) and its index row. A running record names the process writing it,
        so that a reader can tell a run whose process was killed from one still training."""
        folder = self._folder(record.run_id)
        if record.status == "running":
            record.pid, record.host = this_process()
        data = json.dumps(record.to_dict(), indent=1).encode()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(folder / RECORD_FILE, lambda stream: stream.write(data))
            stamp = file_stamp(folder / RECORD_FILE)
        except OSError as exc:
            raise RunStoreError(
                f"cannot write the run record to {folder} ({exc.strerror or exc}); "
                f"free some space or choose another folder with --runs-dir"
            ) from exc
        self.index.put(record, stamp)

    def load(self, run_id: str) -> RunRecord:
        """The record of ``run_id``, or a one-line `RunStoreError` saying why it cannot be read.

        A record of any shape is checked (`RunRecord.from_dict`) before anyone uses it. A record still
        "running" whose writing process has ended on this machine (killed, crashed) is failed here, with
        its finished epochs, and saved so where the folder is writable.
        """
        path = self._folder(run_id) / RECORD_FILE
        if not path.is_file():
            raise RunStoreError(f"no run {run_id!r} in {self.root}; list runs with `workbench runs`")
        try:
            stamp = file_stamp(path)
            data = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise RunStoreError(f"the record of run {run_id} is unreadable ({type(exc).__name__}); it may be truncated") from exc
        try:
            record = RunRecord.from_dict(data)
        except RunStoreError as exc:  # the first field of the wrong shape, in one line
            raise RunStoreError(f"the record of run {run_id} is unreadable: {exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
            raise RunStoreError(f"the record of run {run_id} is unreadable ({type(exc).__name__})") from None
        if record.run_id != run_id:
            raise RunStoreError(f"the record of run {run_id} is unreadable: it names another run ({record.run_id[:40]!r})")
        if record.status == "running" and not alive(record.pid, record.host):
            self._fail_orphan(record, path, stamp)
        return record

    def _fail_orphan(self, record: RunRecord, path: Path, stamp: str) -> None:
        """A run whose process died mid-training (``kill -9``, a crash) will never finish: failed, epochs kept.

        Saved only if the file is still the one read: its writer is dead, so nothing can change it after
        this check, while a save it made just before dying (completed, say) is never overwritten.
        """
        record.status = "failed"
        record.error = (f"its process ({record.pid} on {record.host}) ended without finishing it; "
                        f"its {len(record.epochs)} finished epoch(s) are kept")
        with suppress(OSError, ValueError):
            record.finished = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
        with suppress(OSError, RunStoreError):
            if file_stamp(path) == stamp:
                self.save(record)

    def scan(self) -> tuple[list[RunRecord], dict[str, str]]:
        """Every readable run's full record (newest first) and, separately, why each unreadable one failed.

        It reads every record file: `list_runs` and `changes` answer from the index alone.
        """
        rows, problems = self.index.list({}, full=True)  # every file is read anyway: notice edits by hand too
        records = []
        for row in rows:
            try:
                records.append(self.load(row["run_id"]))
            except RunStoreError as exc:  # changed since it was indexed
                problems[row["run_id"]] = str(exc)
        return records, problems

    def list_runs(self, **filters) -> tuple[list[dict], dict[str, str]]:
        """Each readable run's summary without its epochs (newest first), and the unreadable runs.

        ``filters`` name index columns (`run_index.FILTERS`) with a value or a list of values:
        ``list_runs(backbone="resnet18", status=["completed", "interrupted"])``.
        """
        return self.index.list(filters)

    def changes(self, token: str | None = None) -> Changes:
        """The runs added, changed or removed since ``token`` (None: all), and the next token to ask with."""
        return self.index.changes(token)

    def find_completed(self, fingerprint: str) -> list[str]:
        """Completed runs with this fingerprint (`workbench.experiments.reuse`), trained ones first."""
        return self.index.find_completed(fingerprint)

    def save_checkpoint(self, run_id: str, state_dict: dict) -> Path:
        path = self._folder(run_id) / CHECKPOINT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        import torch  # only for weights files: listing and reading records never loads it

        write_atomically(path, lambda stream: torch.save(state_dict, stream))
        return path

    def load_checkpoint(self, run_id: str) -> dict:
        return load_state_dict_file(self._folder(run_id) / CHECKPOINT_FILE)

    def checkpoint_path(self, run_id: str) -> Path:
        return self._folder(run_id) / CHECKPOINT_FILE

    def checkpoint_sizes(self) -> dict[str, int]:
        """Bytes of each run's kept weights; a file shared by reused runs (a hard link) counts once."""
        sizes, seen = {}, set()
        for path in sorted(self.root.glob(f"*/{CHECKPOINT_FILE}")) if self.root.is_dir() else []:
            stat = path.stat()
            sizes[path.parent.name] = 0 if (stat.st_dev, stat.st_ino) in seen else stat.st_size
            seen.add((stat.st_dev, stat.st_ino))
        return sizes

    def prune_checkpoints(self, keep: int | None = None) -> list[str]:
        """Delete the weights of runs outside the newest ``keep`` comparisons; records always stay.

        Runs trained on their own (``train --save-checkpoint``) and runs another run starts
        from (``init_run``) keep their weights: someone asked for them, or something needs them.
        """
        keep = settings.keep_checkpoints() if keep is None else keep
        rows, _ = self.list_runs()  # newest first, from the index: no record file is read
        newest = list(dict.fromkeys(r["comparison_id"] for r in rows if r["comparison_id"]))
        kept, sources = set(newest[:keep]), {r["init_run"] for r in rows}
        pruned = []
        for row in rows:
            path = self.checkpoint_path(row["run_id"])
            older = row["comparison_id"] and row["comparison_id"] not in kept
            if older and row["run_id"] not in sources and path.is_file():
                path.unlink()
                pruned.append(row["run_id"])
        return pruned

    def export_csv(self, run_ids: list[str], unreadable: dict[str, str] | None = None) -> str:
        """One row per finished epoch of each run, with the run's identity and test accuracy.

        With ``unreadable`` (a dict), a run that cannot be read is left out and named there with the reason;
        without it, the first one raises.
        """
        buffer = io.StringIO()
        writer = None
        predictions = self.predictions.all()
        for run_id in run_ids:
            try:
                record = self.load(run_id)
            except RunStoreError as exc:
                if unreadable is None:
                    raise
                unreadable[run_id] = str(exc)
                continue
            for epoch in record.summary()["epochs"]:
                row = {"run_id": record.run_id, "comparison_id": record.comparison_id, "role": record.role,
                       "status": record.status, "backbone": record.config.get("backbone"),
                       "pretrained": record.config.get("pretrained"), "dataset": record.config.get("dataset"),
                       "freeze_depth": record.config.get("freeze_depth"), "seed": record.config.get("seed"),
                       "test_acc": record.test_acc}
                row.update({k: v for k, v in epoch.items() if k != "lrs"})
                row["lrs"] = json.dumps(epoch["lrs"])
                row.update(prediction_columns(predictions.get(record.comparison_id), record.role))
                if writer is None:
                    writer = csv.DictWriter(buffer, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
        return buffer.getvalue()


def prediction_columns(prediction: Prediction | None, role: str) -> dict:
    """What was predicted before the run, beside its numbers in the CSV (empty where nothing was)."""
    if prediction is None:
        return dict.fromkeys(("predicted_first", "predicted_by_epochs", "predicted_test_acc", "prediction_why"))
    return {"predicted_first": prediction.first, "predicted_by_epochs": prediction.by_epochs,
            "predicted_test_acc": getattr(prediction, f"{role}_acc", None), "prediction_why": prediction.why}


def load_state_dict_file(path: Path) -> dict:
    """Load a checkpoint without ever unpickling code (``weights_only=True``)."""
    try:
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunStoreError(f"no checkpoint at {path}; train with --save-checkpoint to keep one") from None
    except Exception as exc:  # noqa: BLE001 - refused pickles and corrupt files both land here
        raise RunStoreError(
            f"{path} is not a plain weights file ({type(exc).__name__}); it was refused, nothing in it was run"
        ) from exc
