import csv
import io
import json
import os
import pickle

import pytest
import torch

from workbench.errors import RunStoreError
from workbench.records import RECORD_VERSION, EpochRecord, RunRecord
from workbench.runs import RunStore


def _record(run_id="r-1", epochs=2, **extra):
    record = RunRecord(run_id=run_id, config={"backbone": "resnet18", "target_acc": 0.5, "seed": 0},
                       created="2026-11-23T00:00:00", **extra)
    for i in range(epochs):
        record.epochs.append(EpochRecord(
            epoch=i + 1, train_loss=1.0, train_acc=0.4 + 0.2 * i, val_loss=1.0, val_acc=0.4 + 0.2 * i,
            lrs={"head": 0.1}, epoch_s=2.0, cum_s=2.0 * (i + 1), images_seen=10 * (i + 1), epoch_flops=100,
            train_flops=100 * (i + 1), trainable_params=5, total_params=10, frozen_stages=0, cached_stages=0,
            peak_mem_bytes=1000, throughput=5.0))
    return record


def test_round_trip_and_summary(store):
    store.save(_record())
    loaded = store.load("r-1")
    assert loaded == _record()
    summary = loaded.summary()
    assert summary["best_val_acc"] == pytest.approx(0.6) and summary["epochs_to_target"] == 2
    assert summary["time_to_target_s"] == 4.0 and summary["flops_to_target"] == 200


def test_a_save_leaves_no_temporary_files(store):
    for _ in range(3):
        store.save(_record())
    assert os.listdir(store.root / "r-1") == ["record.json"]


def test_scan_reports_truncated_and_newer_records_and_keeps_going(store):
    store.save(_record("r-good"))
    store.save(_record("r-cut"))
    path = store.root / "r-cut" / "record.json"
    path.write_text(path.read_text()[:40])
    store.save(_record("r-new"))
    newer = json.loads((store.root / "r-new" / "record.json").read_text())
    newer["version"] = RECORD_VERSION + 1
    (store.root / "r-new" / "record.json").write_text(json.dumps(newer))
    records, problems = store.scan()
    assert [r.run_id for r in records] == ["r-good"]
    assert "truncated" in problems["r-cut"] and "newer workbench" in problems["r-new"]


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 100])
def test_run_ids_cannot_escape_the_run_folder(store, bad):
    with pytest.raises(RunStoreError, match="not a run id"):
        store.load(bad)


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunStoreError, match="cannot write the run record"):
        RunStore(blocker / "runs").save(_record())


def test_export_csv_has_a_row_per_epoch(store):
    store.save(_record("r-a"))
    store.save(_record("r-b", epochs=3))
    rows = list(csv.DictReader(io.StringIO(store.export_csv(["r-a", "r-b"]))))
    assert [(r["run_id"], r["epoch"]) for r in rows] == [("r-a", "1"), ("r-a", "2"), ("r-b", "1"), ("r-b", "2"), ("r-b", "3")]
    assert float(rows[1]["val_acc"]) == pytest.approx(0.6)


def test_checkpoints_round_trip(store):
    state = {"w": torch.arange(3.0)}
    store.save_checkpoint("r-1", state)
    assert torch.equal(store.load_checkpoint("r-1")["w"], state["w"])


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_holding_code_is_refused_and_not_run(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (store.root / "r-1").mkdir(parents=True)
    with open(store.root / "r-1" / "model.pt", "wb") as stream:
        pickle.dump({"w": Evil()}, stream)
    with pytest.raises(RunStoreError, match="refused"):
        store.load_checkpoint("r-1")
    assert not (tmp_path / "pwned").exists()
