"""The run store: one folder per run, one JSON record each, always written atomically.

A record is replaced in a single ``os.replace`` after every epoch, so a crash, a Ctrl-C or a
second process writing beside us never leaves a half-written file, and readers always see
either the previous or the next complete version.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import torch

from workbench.errors import RunStoreError
from workbench.records import RECORD_VERSION, RunRecord

DEFAULT_RUNS_DIR = "./runs"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}$")
RECORD_FILE = "record.json"
CHECKPOINT_FILE = "model.pt"


def runs_dir_from_env() -> Path:
    return Path(os.environ.get("WORKBENCH_RUNS", DEFAULT_RUNS_DIR))


def new_id(prefix: str = "") -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{prefix}{stamp}-{uuid.uuid4().hex[:6]}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RunStore:
    """Save, list, load and export run records under one folder."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else runs_dir_from_env()

    def _folder(self, run_id: str) -> Path:
        if not RUN_ID.match(run_id):
            raise RunStoreError(f"{run_id!r} is not a run id; run ids use letters, digits, '-' and '_' only")
        return self.root / run_id

    def save(self, record: RunRecord) -> None:
        folder = self._folder(record.run_id)
        data = json.dumps(record.to_dict(), indent=1).encode()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _atomic_write(folder / RECORD_FILE, lambda stream: stream.write(data))
        except OSError as exc:
            raise RunStoreError(
                f"cannot write the run record to {folder} ({exc.strerror or exc}); "
                f"free some space or choose another folder with --runs-dir"
            ) from exc

    def load(self, run_id: str) -> RunRecord:
        path = self._folder(run_id) / RECORD_FILE
        if not path.is_file():
            raise RunStoreError(f"no run {run_id!r} in {self.root}; list runs with `workbench runs`")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RunStoreError(f"the record of run {run_id} is unreadable ({type(exc).__name__}); it may be truncated") from exc
        if not isinstance(data, dict):
            raise RunStoreError(f"the record of run {run_id} is not a run record")
        if data.get("version", 0) > RECORD_VERSION:
            raise RunStoreError(
                f"run {run_id} was recorded by a newer workbench (record version {data['version']}); upgrade to read it"
            )
        try:
            return RunRecord.from_dict(data)
        except (TypeError, KeyError) as exc:
            raise RunStoreError(f"the record of run {run_id} is incomplete ({exc})") from exc

    def scan(self) -> tuple[list[RunRecord], dict[str, str]]:
        """Every readable run (newest first) and, separately, why each unreadable one failed."""
        records, problems = [], {}
        if not self.root.is_dir():
            return records, problems
        for folder in sorted(self.root.iterdir()):
            if not (folder / RECORD_FILE).is_file() or not RUN_ID.match(folder.name):
                continue
            try:
                records.append(self.load(folder.name))
            except RunStoreError as exc:
                problems[folder.name] = str(exc)
        records.sort(key=lambda r: (r.created, r.run_id), reverse=True)
        return records, problems

    def save_checkpoint(self, run_id: str, state_dict: dict) -> Path:
        path = self._folder(run_id) / CHECKPOINT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, lambda stream: torch.save(state_dict, stream))
        return path

    def load_checkpoint(self, run_id: str) -> dict:
        return load_state_dict_file(self._folder(run_id) / CHECKPOINT_FILE)

    def export_csv(self, run_ids: list[str]) -> str:
        """One row per finished epoch of each run, with the run's identity and test accuracy."""
        buffer = io.StringIO()
        writer = None
        for run_id in run_ids:
            record = self.load(run_id)
            for epoch in record.summary()["epochs"]:
                row = {"run_id": record.run_id, "comparison_id": record.comparison_id, "role": record.role,
                       "status": record.status, "backbone": record.config.get("backbone"),
                       "pretrained": record.config.get("pretrained"), "dataset": record.config.get("dataset"),
                       "freeze_depth": record.config.get("freeze_depth"), "seed": record.config.get("seed"),
                       "test_acc": record.test_acc}
                row.update({k: v for k, v in epoch.items() if k != "lrs"})
                row["lrs"] = json.dumps(epoch["lrs"])
                if writer is None:
                    writer = csv.DictWriter(buffer, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
        return buffer.getvalue()


def load_state_dict_file(path: Path) -> dict:
    """Load a checkpoint without ever unpickling code (``weights_only=True``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunStoreError(f"no checkpoint at {path}; train with --save-checkpoint to keep one") from None
    except Exception as exc:  # noqa: BLE001 - refused pickles and corrupt files both land here
        raise RunStoreError(
            f"{path} is not a plain weights file ({type(exc).__name__}); it was refused, nothing in it was run"
        ) from exc
