import csv
import io
import json
import multiprocessing
import os
import pickle
import shutil
import sqlite3
from contextlib import closing

import pytest
import torch

from workbench.cli.main import main
from workbench.core.errors import RunStoreError
from workbench.core.records import RECORD_VERSION, EpochRecord, RunRecord
from workbench.store.index import file_stamp
from workbench.store.predictions import Prediction
from workbench.store.runs import RunStore


def _record(run_id="r-1", epochs=2, **extra):
    record = RunRecord(run_id=run_id, config={"backbone": "resnet18", "target_acc": 0.5, "seed": 0},
                       created="2026-11-23T00:00:00", **extra)
    for i in range(epochs):
        record.epochs.append(EpochRecord(
            epoch=i + 1, train_loss=1.0, train_acc=0.4 + 0.2 * i, val_loss=1.0, val_acc=0.4 + 0.2 * i,
            lrs={"head": 0.1}, epoch_s=2.0, cum_s=2.0 * (i + 1), images_seen=10 * (i + 1), epoch_flops=100,
            train_flops=100 * (i + 1), trainable_params=5, total_params=10, freeze_depth=0, features_cached=False,
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


def test_a_comparisons_prediction_travels_with_its_runs_in_the_csv_and_runs_json(store, capsys):
    store.save(_record("r-t", role="transfer", comparison_id="c-1"))
    store.save(_record("r-s", role="scratch", comparison_id="c-1"))
    store.save(_record("r-x", comparison_id="c-2"))
    store.predictions.save(Prediction("transfer", 2, 0.9, 0.4, why="pre-trained, said Ada", comparison_id="c-1"))
    rows = list(csv.DictReader(io.StringIO(store.export_csv(["r-t", "r-s", "r-x"]))))
    assert {(r["run_id"], r["predicted_first"], r["predicted_test_acc"]) for r in rows} == {
        ("r-t", "transfer", "0.9"), ("r-s", "transfer", "0.4"), ("r-x", "", "")}
    assert rows[0]["prediction_why"] == "pre-trained, said Ada"
    assert main(["runs", "--json", "--runs-dir", str(store.root)]) == 0
    listed = {r["run_id"]: r["prediction"] for r in json.loads(capsys.readouterr().out)["runs"]}
    assert listed["r-s"]["scratch_acc"] == 0.4 and listed["r-t"]["by_epochs"] == 2 and listed["r-x"] is None


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


# --- the index: listing, filtering, the change feed -----------------------------------------------


def _saved(store, run_id, created, **extra):
    record = _record(run_id, **extra)
    record.created = created
    store.save(record)
    return record


def test_list_runs_filters_on_the_index_newest_first(store):
    _saved(store, "r-old", "2026-01-01", role="scratch", status="completed")
    _saved(store, "r-new", "2026-02-01", role="transfer", status="completed")
    _saved(store, "r-mid", "2026-01-15", role="transfer", status="failed")
    rows, problems = store.list_runs()
    assert [r["run_id"] for r in rows] == ["r-new", "r-mid", "r-old"] and not problems
    assert rows[0]["epochs_done"] == 2 and rows[0]["best_val_acc"] == pytest.approx(0.6) and "epochs" not in rows[0]
    assert [r["run_id"] for r in store.list_runs(role="transfer", status="completed")[0]] == ["r-new"]
    assert [r["run_id"] for r in store.list_runs(status=["failed", "completed"], role="transfer")[0]] == ["r-new", "r-mid"]
    with pytest.raises(RunStoreError, match="cannot filter runs by 'colour'"):
        store.list_runs(colour="red")


def test_a_missing_store_lists_nothing_and_creates_nothing(tmp_path):
    store = RunStore(tmp_path / "nowhere")
    assert store.list_runs() == ([], {}) and store.changes().runs == [] and store.scan() == ([], {})
    assert not (tmp_path / "nowhere").exists()


def test_changes_since_a_token_hold_only_what_changed(store):
    _saved(store, "r-a", "2026-01-01")
    _saved(store, "r-b", "2026-01-02")
    first = store.changes()
    assert first.full and {r["run_id"] for r in first.runs} == {"r-a", "r-b"}
    assert store.changes(first.token).runs == []
    _saved(store, "r-b", "2026-01-02", status="completed")
    _saved(store, "r-c", "2026-01-03")
    second = store.changes(first.token)
    assert not second.full and [(r["run_id"], r["status"]) for r in second.runs] == [("r-c", "running"), ("r-b", "completed")]
    shutil.rmtree(store.root / "r-a")
    third = store.changes(second.token)
    assert third.removed == ["r-a"] and third.runs == []
    assert [r["run_id"] for r in store.list_runs()[0]] == ["r-c", "r-b"]


def test_a_token_from_a_deleted_index_asks_for_everything(store):
    _saved(store, "r-a", "2026-01-01")
    token = store.changes().token
    for name in os.listdir(store.root):
        if name.startswith("runs.db"):
            os.remove(store.root / name)
    again = store.changes(token)
    assert again.full and [r["run_id"] for r in again.runs] == ["r-a"]


def test_folders_written_without_the_index_are_imported(store):
    """Runs from an older workbench (no runs.db), a copied folder, a writer killed before its row."""
    for run_id in ("r-1", "r-2"):
        (store.root / run_id).mkdir(parents=True)
        (store.root / run_id / "record.json").write_text(json.dumps(_record(run_id).to_dict()))
    assert {r["run_id"] for r in store.list_runs()[0]} == {"r-1", "r-2"}
    changed = _record("r-2", epochs=3)
    (store.root / "r-2" / "record.json").write_text(json.dumps(changed.to_dict()))
    assert {r["run_id"]: r["epochs_done"] for r in store.list_runs()[0]} == {"r-1": 2, "r-2": 3}


def test_a_corrupt_index_is_set_aside_and_rebuilt_from_the_records(store):
    _saved(store, "r-a", "2026-01-01")
    for name in os.listdir(store.root):
        if name.startswith("runs.db"):
            os.remove(store.root / name)
    (store.root / "runs.db").write_bytes(b"this is not a database" * 100)
    assert [r["run_id"] for r in store.list_runs()[0]] == ["r-a"]
    assert any(name.startswith("runs.db.corrupt-") for name in os.listdir(store.root))


def test_an_index_an_older_workbench_made_with_other_columns_is_made_again(store):
    """Seen in a notebook's run folder kept from an earlier version: every save failed on the old table."""
    _saved(store, "r-a", "2026-01-01")
    for name in os.listdir(store.root):
        if name.startswith("runs.db"):
            os.remove(store.root / name)
    with closing(sqlite3.connect(store.root / "runs.db")) as db:
        db.executescript("CREATE TABLE runs (run_id TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, row TEXT);"
                         "CREATE TABLE meta (key TEXT PRIMARY KEY, value); INSERT INTO meta VALUES ('rows', 2);")
    _saved(store, "r-b", "2026-01-02")
    assert [r["run_id"] for r in store.list_runs()[0]] == ["r-b", "r-a"]
    with closing(sqlite3.connect(store.root / "runs.db")) as db:
        assert "mtime_ns" not in {column[1] for column in db.execute("PRAGMA table_info(runs)")}


def test_a_reader_importing_an_older_record_cannot_undo_a_newer_save(store):
    """A reader re-reads a changed record; its writer saves the next epoch before the reader's import lands."""
    _saved(store, "r-a", "2026-01-01", epochs=1)
    (store.root / "r-a" / "record.json").write_text(json.dumps(_record("r-a", epochs=2).to_dict()))  # no row yet
    read = store.index.read

    def read_then_writer_saves(run_id):
        record = read(run_id)
        store.save(_record("r-a", epochs=3))
        return record

    store.index.read = read_then_writer_saves
    store.changes()  # the reader imports epoch 2, too late
    with sqlite3.connect(store.root / "runs.db") as db:  # the row itself: a later listing would mend it
        (row,) = db.execute("SELECT row FROM runs WHERE run_id = 'r-a'").fetchone()
    assert json.loads(row)["epochs_done"] == 3


def test_find_completed_prefers_the_trained_run(store):
    _saved(store, "r-copy", "2026-01-01", status="completed", fingerprint="f1", reused_from="r-orig")
    _saved(store, "r-orig", "2026-01-02", status="completed", fingerprint="f1")
    _saved(store, "r-live", "2026-01-03", status="running", fingerprint="f1")
    assert store.find_completed("f1") == ["r-orig", "r-copy"] and store.find_completed("f2") == []


def _write_runs(root, prefix, count):
    store = RunStore(root)
    for i in range(count):
        record = _record(f"{prefix}-{i}", epochs=0)
        for epoch in range(3):  # a save per epoch, as training does
            record.epochs = _record(epochs=epoch + 1).epochs
            store.save(record)


def test_several_writer_processes_keep_every_row_and_readers_keep_listing(store):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_runs, args=(str(store.root), f"w{n}", 40)) for n in range(3)]
    for writer in writers:
        writer.start()
    while any(w.is_alive() for w in writers):
        store.changes()  # a reader beside the writers never fails (WAL)
    assert all(w.exitcode == 0 for w in writers)
    with sqlite3.connect(store.root / "runs.db") as db:
        indexed = dict(db.execute("SELECT run_id, stamp FROM runs"))
    assert len(indexed) == 120  # every writer's every run has its row, kept current by the writers themselves
    assert all(indexed[r] == file_stamp(store.root / r / "record.json") for r in indexed)
    rows, problems = store.list_runs()
    assert len(rows) == 120 and not problems and {r["epochs_done"] for r in rows} == {3}
