"""Record files of every wrong shape: each reader lists them as unreadable, with why, and keeps going.

Issue 20 (7): valid JSON of the wrong shape (a list for the config, a string for the epochs, a non-number
accuracy, an unknown version, missing keys, nested wrong types) crashed `workbench runs`, `runs --json`,
`workbench checkpoints` and the dashboard for everyone. Here hundreds of shapes, generated from one good
comparison by swapping every field (and every setting, and every epoch field) for values of other types,
deleting fields, truncating the file and nesting it, go through every reader.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import types
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from workbench.cli.main import main
from workbench.core.records import CONFIG_FIELDS, ROLES, STATUSES, EpochRecord, MalformedRecord, RunRecord
from workbench.experiments.comparisons import group_comparisons
from workbench.experiments.grouping import grid_groups, sweep_groups
from workbench.experiments.reuse import find_reusable
from workbench.present.plots import sweep_curve
from workbench.present.report import comparison_label, comparison_table, runs_table
from workbench.spec.config import RunConfig
from workbench.spec.options import SWEEPABLE
from workbench.store.runs import RunStore
from workbench.store.view import StoreView

# Values of every JSON type, and the ones that break printing (a lone surrogate) or SQLite (a 70-bit integer).
WRONG = [None, True, 0, -3, 2**70, 1.5, float("nan"), "text", "", "\ud800", [], [1, "a"], {}, {"a": 1}, [[[]]],
         {"head": "fast"}]


def _epoch(i: int) -> dict:
    return dict(epoch=i, train_loss=1.0 / i, train_acc=0.5 + 0.1 * i, val_loss=1.0 / i, val_acc=0.5 + 0.1 * i,
                lrs={"head": 1e-3, "stage 1": 1e-4}, epoch_s=1.5, cum_s=1.5 * i, images_seen=30 * i, epoch_flops=10**9,
                train_flops=10**9 * i, trainable_params=1000, total_params=5000, freeze_depth=2,
                features_cached=True, peak_mem_bytes=10**8, throughput=20.0, cpu_s=2.5, others_cpu_share=0.1)


def good(run_id: str, role: str = "transfer", comparison_id: str = "c-20260101-000000-aaaaaa", **config) -> dict:
    """A complete record as a real run writes it."""
    settings = RunConfig(epochs=2, **config).to_dict()
    if role == "scratch":
        settings.update(pretrained=False, freeze_depth=0, lr=3e-3)
    return {"run_id": run_id, "config": settings, "role": role, "comparison_id": comparison_id,
            "status": "completed", "error": None, "created": "2026-01-01T00:00:00+00:00",
            "finished": "2026-01-01T00:01:00+00:00", "classes": ["a", "b", "c"],
            "data_sizes": {"train": 30, "val": 15, "test": 15}, "data_notes": ["note"],
            "environment": {"device": "cpu", "threads": 2, "nested": {"list": [1, 2.5, None, "x"]}},
            "speed_notes": ["epoch 1: cached"], "epochs": [_epoch(1), _epoch(2)], "test_acc": 0.7,
            "per_class_acc": [0.5, 0.75, 1.0], "confusion": [[5, 0, 0], [1, 4, 0], [0, 0, 5]],
            "fingerprint": f"fp-{run_id}", "reused_from": None, "version": 1, "pid": None, "host": None}


# --- what a record may hold, read from the dataclasses' annotations (independently of the reader) -------------

def fits(value, hint) -> bool:
    """Whether a JSON value fits a type annotation (an int is a float too; bool is no number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63
    if hint is float:
        return fits(value, int) or isinstance(value, float)
    if hint is str:
        return isinstance(value, str) and "\ud800" not in value
    if origin is list:
        return isinstance(value, list) and all(fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(fits(v, args[1]) for v in value.values())
    if hint is dict:
        return isinstance(value, dict) and fits_json(value)
    raise AssertionError(hint)


def fits_json(value) -> bool:
    if isinstance(value, dict):
        return all(fits_json(v) for v in value.values())
    if isinstance(value, list):
        return all(fits_json(v) for v in value)
    return not isinstance(value, str) or "\ud800" not in value


RECORD_HINTS = typing.get_type_hints(RunRecord)
EPOCH_HINTS = typing.get_type_hints(EpochRecord)
CONFIG_HINTS = typing.get_type_hints(RunConfig)


def field_fits(name: str, value) -> bool:
    if name == "role":
        return value in ROLES
    if name == "status":
        return value in STATUSES
    if name == "version":
        return fits(value, int) and value == 1
    if name == "config":
        return isinstance(value, dict) and all(k in CONFIG_HINTS and fits(v, CONFIG_HINTS[k]) for k, v in value.items())
    if name == "epochs":
        return isinstance(value, list) and all(
            isinstance(e, dict) and set(e) <= set(EPOCH_HINTS) and all(fits(v, EPOCH_HINTS[k]) for k, v in e.items())
            and all(f.name in e for f in fields(EpochRecord) if f.name not in ("cpu_s", "others_cpu_share"))
            for e in value)
    return fits(value, RECORD_HINTS[name])


# --- the shapes -------------------------------------------------------------------------------------------------

def shapes() -> list[tuple[str, object, bool]]:
    """(what was done, the record's JSON value or raw text, whether a reader may accept it) for every shape."""
    base = good("RUN")
    made: list[tuple[str, object, bool]] = []

    def swap(what: str, change, ok: bool) -> None:
        data = copy.deepcopy(base)
        change(data)
        made.append((what, data, ok))

    for name in RECORD_HINTS:  # every field: every other type, and absent
        for value in WRONG:
            swap(f"{name}={value!r:.20}", lambda d, n=name, v=value: d.__setitem__(n, v),
                 field_fits(name, value) and name != "run_id")
        swap(f"no {name}", lambda d, n=name: d.pop(n), name not in ("run_id", "config"))
    for i, name in enumerate(CONFIG_FIELDS):  # every setting, with a few values each
        for value in WRONG[i % 4::4]:
            swap(f"config.{name}={value!r:.20}", lambda d, n=name, v=value: d["config"].__setitem__(n, v),
                 fits(value, CONFIG_HINTS[name]))
    swap("config with an unknown setting", lambda d: d["config"].__setitem__("learning_speed", 3), False)
    swap("config without settings", lambda d: d.__setitem__("config", {}), True)
    for i, name in enumerate(EPOCH_HINTS):  # every epoch field
        for value in WRONG[i % 3::3]:
            swap(f"epochs[1].{name}={value!r:.20}", lambda d, n=name, v=value: d["epochs"][1].__setitem__(n, v),
                 fits(value, EPOCH_HINTS[name]))
        swap(f"epochs[0] without {name}", lambda d, n=name: d["epochs"][0].pop(n),
             name in ("cpu_s", "others_cpu_share"))
    for value in WRONG:
        swap(f"epochs[0]={value!r:.20}", lambda d, v=value: d["epochs"].__setitem__(0, v), False)
    swap("an unknown epoch field", lambda d: d["epochs"][0].__setitem__("speed", 1), False)
    swap("epochs nested in a list", lambda d: d.__setitem__("epochs", [d["epochs"]]), False)
    swap("an old epoch line (frozen_stages, cached_stages)", lambda d: d["epochs"][0].update(
        frozen_stages=d["epochs"][0].pop("freeze_depth"), cached_stages=d["epochs"][0].pop("features_cached") * 3),
        True)
    swap("cached_stages as text", lambda d: d["epochs"][0].update(cached_stages="3") or d["epochs"][0].pop(
        "features_cached"), False)
    for version in (0, 2, 99, -1, "1", 1.0):
        swap(f"version={version!r}", lambda d, v=version: d.__setitem__("version", v), False)
    swap("a field of a newer workbench", lambda d: d.__setitem__("new_field", [1]), True)
    swap("another run's id", lambda d: d.__setitem__("run_id", "r-somebody-else"), False)
    swap("a deep environment", lambda d: d.__setitem__("environment", json.loads("{\"a\":" * 200 + "1" + "}" * 200)),
         False)
    swap("a NaN accuracy and an infinite loss", lambda d: d["epochs"][0].update(val_acc=float("nan"),
                                                                               train_loss=float("inf")), True)
    for value in ([], "text", 3, None, [base], {"record": base}):
        made.append((f"the whole record is {value!r:.20}", value, False))
    text = json.dumps(base)
    for cut in (0, 1, len(text) // 3, len(text) - 1):
        made.append((f"truncated at {cut}", text[:cut], False))
    made.append(("nested 100000 deep", "[" * 100_000 + "]" * 100_000, False))
    made.append(("not UTF-8", b"\xff\xfe{\x00", False))
    return made


SHAPES = shapes()


def _write(root: Path, run_id: str, data) -> None:
    folder = root / run_id
    folder.mkdir(parents=True)
    if isinstance(data, dict) and data.get("run_id") == "RUN":
        data = {**data, "run_id": run_id}
    if isinstance(data, bytes):
        (folder / "record.json").write_bytes(data)
    else:
        (folder / "record.json").write_text(data if isinstance(data, str) else json.dumps(data))


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """A run folder with one good comparison, a second good one (another freeze depth), and every shape."""
    root = tmp_path_factory.mktemp("fuzz") / "runs"
    for run_id, role, comparison, depth in (("t-good", "transfer", "c-20260101-000000-aaaaaa", 2),
                                            ("s-good", "scratch", "c-20260101-000000-aaaaaa", 2),
                                            ("t-good2", "transfer", "c-20260102-000000-bbbbbb", 4),
                                            ("s-good2", "scratch", "c-20260102-000000-bbbbbb", 4)):
        _write(root, run_id, good(run_id, role, comparison, freeze_depth=depth))
    expected_bad, expected_good = {}, {"t-good", "s-good", "t-good2", "s-good2"}
    for i, (what, data, ok) in enumerate(SHAPES):
        run_id = f"m-{i:04d}"
        _write(root, run_id, data)
        if ok:
            expected_good.add(run_id)
        else:
            expected_bad[run_id] = what
    return RunStore(root), expected_good, expected_bad


def test_there_are_hundreds_of_shapes_and_dozens_a_reader_may_accept():
    assert len(SHAPES) > 400
    assert 20 < sum(ok for _, _, ok in SHAPES) < len(SHAPES) - 300


def test_the_store_lists_every_bad_shape_as_unreadable_and_every_good_one_as_a_run(fuzzed):
    store, expected_good, expected_bad = fuzzed
    rows, problems = store.list_runs()
    wrongly = {run_id: expected_bad[run_id] for run_id in expected_bad if run_id not in problems}
    assert not wrongly, f"accepted: {wrongly}"
    assert {r["run_id"] for r in rows} == expected_good and set(problems) == set(expected_bad)
    for problem in problems.values():
        assert problem.startswith("the record of run ") and "\n" not in problem and len(problem) < 300, problem
    records, scanned = store.scan()
    assert {r.run_id for r in records} == expected_good and set(scanned) == set(expected_bad)
    view_records, view_problems = StoreView(store).refresh()
    assert {r.run_id for r in view_records} == expected_good and set(view_problems) == set(expected_bad)
    print(runs_table(rows, problems))  # no field a run list formats can break it


def test_a_reader_says_which_field_is_wrong(fuzzed):
    store, _, expected_bad = fuzzed
    _, problems = store.list_runs()
    by_shape = {what: problems[run_id] for run_id, what in expected_bad.items()}
    assert "config should be an object, not a list" in by_shape["config=[]"]
    assert "epochs are text, not a list" in by_shape["epochs='text'"]
    assert "test_acc should be a number, not text" in by_shape["test_acc='text'"]
    assert "version 99" in by_shape["version=99"] or "newer workbench" in by_shape["version=99"]
    assert "its version '1' is not one this workbench knows" in by_shape["version='1'"]
    assert "its config is missing" in by_shape["no config"]
    assert "epoch 2: val_acc should be a number" in next(p for w, p in by_shape.items() if w.startswith(
        "epochs[1].val_acc="))
    assert "epoch 2: lrs" in next(p for w, p in by_shape.items() if w.startswith("epochs[1].lrs="))
    assert "truncated" in by_shape["truncated at 1"]
    assert "not a run record" in by_shape["the whole record is []"]


def test_runs_and_runs_json_list_every_bad_record_as_unreadable(fuzzed, capsys):
    store, expected_good, expected_bad = fuzzed
    assert main(["runs", "--runs-dir", str(store.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    unreadable = {line.split()[0] for line in lines if "unreadable" in line}
    assert unreadable == set(expected_bad)
    assert main(["runs", "--json", "--runs-dir", str(store.root)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert set(listed["unreadable"]) == set(expected_bad)
    assert {r["run_id"] for r in listed["runs"]} == expected_good


def test_runs_in_a_real_terminal_process_survives_too(fuzzed):
    store, _, expected_bad = fuzzed
    result = subprocess.run([sys.executable, "-m", "workbench.cli.main", "runs", "--runs-dir", str(store.root)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sum("unreadable" in line for line in result.stdout.splitlines()) == len(expected_bad)


def test_checkpoints_lists_the_unreadable_runs(fuzzed, capsys):
    store, _, expected_bad = fuzzed
    assert main(["checkpoints", "--runs-dir", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert {line.split()[0] for line in out.splitlines() if "unreadable" in line} == set(expected_bad)


def test_export_writes_the_readable_runs_and_names_each_unreadable_one(fuzzed, capsys, tmp_path):
    store, expected_good, expected_bad = fuzzed
    asked = sorted(expected_good) + sorted(expected_bad)
    assert main(["export", *asked, "--csv", "--runs-dir", str(store.root), "-o", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(expected_bad) and all(line.startswith("error: the record of run ") for line in err)
    rows = (tmp_path / "out.csv").read_text().splitlines()[1:]
    assert {row.split(",")[0] for row in rows} == {r for r in expected_good if store.load(r).epochs}
    assert main(["export", "t-good", "--csv", "--runs-dir", str(store.root)]) == 0


def test_grouping_and_everything_drawn_from_it_take_every_accepted_shape(fuzzed):
    store, expected_good, _ = fuzzed
    records, _ = store.scan()
    comparisons = group_comparisons(records)
    for comparison in comparisons.values():
        summary = comparison.summary()
        comparison_label(comparison)
        if summary["transfer"] and summary["scratch"]:
            comparison_table(summary)
    for pool in (False, True):
        for parameter in SWEEPABLE:
            for group in sweep_groups(list(comparisons.values()), parameter, pool=pool):
                sweep_curve(group.points, parameter)
        grid_groups(list(comparisons.values()), pool=pool)
    assert find_reusable(store, "fp-t-good").run_id == "t-good"
    for run_id in sorted(expected_good)[:20]:  # a study's or a comparison's reuse lookup never raises
        find_reusable(store, f"fp-{run_id}")


def test_the_config_table_in_core_is_run_configs_fields():
    """core/records.py cannot import the spec: it keeps RunConfig's fields and types, and this holds them equal."""
    assert CONFIG_FIELDS == {f.name: f.type for f in fields(RunConfig)}


def test_from_dict_raises_one_line_for_the_issues_ten_shapes():
    base = good("r-1")
    for change in (lambda d: d.__setitem__("config", ["lr", 1]), lambda d: d.__setitem__("epochs", "15"),
                   lambda d: d.__setitem__("test_acc", "high"), lambda d: d.__setitem__("version", 7),
                   lambda d: d.pop("run_id"), lambda d: d["epochs"][0].__setitem__("lrs", [1e-3]),
                   lambda d: d["config"].__setitem__("seed", "0"), lambda d: d.__setitem__("classes", "abc"),
                   lambda d: d.__setitem__("confusion", [[1, "2"]]), lambda d: d["epochs"].append({"epoch": 3})):
        data = copy.deepcopy(base)
        change(data)
        with pytest.raises(MalformedRecord) as caught:
            RunRecord.from_dict(data)
        assert "\n" not in str(caught.value)
    assert RunRecord.from_dict(base).to_dict() == {**base, "pid": None, "host": None}


@pytest.mark.parametrize("epochs, said", [(1, "· 1 epoch ·"), (2, "· 2 epochs ·")])
def test_a_comparisons_label_counts_its_epochs_in_words(epochs, said):
    records = [RunRecord.from_dict(good(run_id, role)) for run_id, role in (("t-1", "transfer"), ("s-1", "scratch"))]
    for record in records:
        record.config["epochs"] = epochs
    (comparison,) = group_comparisons(records).values()
    assert said in comparison_label(comparison)  # a probe read "1 epochs"
