"""Reuse of identical runs, sweep grids and their executors (this process, worker processes, Ray)."""

import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from workbench.core.errors import ConfigError
from workbench.experiments.comparisons import group_comparisons
from workbench.experiments.grids import configs_from_values
from workbench.experiments.grouping import grid_groups
from workbench.experiments.reuse import fingerprint
from workbench.experiments.runner import run_comparison
from workbench.experiments.sweeps import run_sweep, sweep_grid
from workbench.present.report import comparison_table
from workbench.present.sweep_plots import grid_values, sweep_heatmap
from workbench.spec.config import ComparisonConfig


@pytest.fixture
def one_epoch(tiny):
    return replace(tiny, epochs=1)


# --- fingerprints -------------------------------------------------------------------------------


def test_the_fingerprint_holds_what_changes_training_and_nothing_else(tiny, tmp_path):
    same = fingerprint(tiny)
    assert fingerprint(replace(tiny, target_acc=0.5)) == same  # only read off the curve
    assert fingerprint(replace(tiny, device="auto")) == same  # no GPU here: 'auto' is the CPU
    assert fingerprint(replace(tiny, data_dir="/elsewhere")) == same
    assert fingerprint(replace(tiny, bn_policy="train")) == same  # nothing is frozen at depth 0
    for change in ({"seed": 1}, {"lr": 0.01}, {"epochs": 3}, {"dataset": "digits:0-3"}, {"split_seed": 2},
                   {"pretrained": False}, {"augment": True}, {"train_per_class": 5}):
        assert fingerprint(replace(tiny, **change)) != same, change
    frozen = replace(tiny, freeze_depth=3)
    assert fingerprint(replace(frozen, bn_policy="train")) != fingerprint(frozen)


def test_an_image_folder_is_known_by_its_files(tiny, tmp_path):
    (tmp_path / "ants").mkdir()
    (tmp_path / "ants" / "a.png").write_bytes(b"1")
    config = replace(tiny, dataset=f"imagefolder:{tmp_path}")
    before = fingerprint(config)
    assert fingerprint(config) == before
    (tmp_path / "ants" / "b.png").write_bytes(b"2")
    assert fingerprint(config) != before


# --- reuse in a comparison ------------------------------------------------------------------------


def test_an_identical_run_is_reused_and_says_so_and_no_reuse_trains_it(one_epoch, store):
    first = run_comparison(ComparisonConfig(one_epoch), store)
    deeper = run_comparison(ComparisonConfig(replace(one_epoch, freeze_depth=6, target_acc=0.5)), store)
    (scratch,), (source,) = deeper.scratch, first.scratch
    assert scratch.reused_from == source.run_id and scratch.comparison_id == deeper.comparison_id
    assert scratch.epochs == source.epochs and scratch.test_acc == source.test_acc
    assert scratch.config["target_acc"] == 0.5 and deeper.summary()["scratch"]["reused_from"] == source.run_id
    assert deeper.transfer[0].reused_from is None  # another freeze depth: trained
    assert f"scratch: reused from run {source.run_id}" in comparison_table(deeper.summary())
    rows, _ = store.list_runs(reused_from=source.run_id)
    assert [r["run_id"] for r in rows] == [scratch.run_id]
    again = run_comparison(ComparisonConfig(replace(one_epoch, freeze_depth=6)), store, reuse=False)
    assert again.scratch[0].reused_from is None and again.transfer[0].reused_from is None
    assert again.scratch[0].epochs[0].epoch_s != source.epochs[0].epoch_s  # really trained again


def test_a_run_whose_weights_were_pruned_is_reused_only_where_nobody_needs_the_weights(one_epoch, store):
    first = run_comparison(ComparisonConfig(one_epoch), store)
    store.prune_checkpoints(0)  # as after 20 newer comparisons
    assert not store.checkpoint_path(first.transfer[0].run_id).is_file()
    numbers = run_comparison(ComparisonConfig(one_epoch), store)  # a sweep, a study: the record is enough
    assert numbers.transfer[0].reused_from == first.transfer[0].run_id
    views = run_comparison(ComparisonConfig(one_epoch), store, keep_weights=True)  # the Inside views follow
    assert views.transfer[0].reused_from is None and store.checkpoint_path(views.transfer[0].run_id).is_file()


# --- grids -----------------------------------------------------------------------------------------


def test_a_grid_is_every_pair_and_mistakes_are_config_errors(tiny):
    points = sweep_grid(ComparisonConfig(tiny), "freeze_depth", [0, 3, 6], "lr", [1e-3, 1e-2])
    assert [tuple(p.values.values()) for p in points] == [(0, 1e-3), (0, 1e-2), (3, 1e-3), (3, 1e-2), (6, 1e-3), (6, 1e-2)]
    assert points[3].config.transfer.freeze_depth == 3 and points[3].config.transfer.lr == 1e-2
    assert len({p.comparison_id for p in points}) == 6
    with pytest.raises(ConfigError, match="given twice"):
        sweep_grid(ComparisonConfig(tiny), "lr", [1e-3], "lr", [1e-2])
    with pytest.raises(ConfigError, match="freeze depth 9 is out of range"):
        sweep_grid(ComparisonConfig(tiny), "lr", [1e-3], "freeze_depth", [9])


def test_a_grid_on_two_workers_trains_the_shared_scratch_run_once(one_epoch, store):
    points = sweep_grid(ComparisonConfig(one_epoch), "freeze_depth", [3, 6], "lr", [1e-3, 1e-2])
    done = []
    comparisons = run_sweep(points, store, workers=2, on_point_done=lambda p, c: done.append(c.comparison_id))
    assert sorted(done) == sorted(p.comparison_id for p in points)
    scratch = [c.scratch[0] for c in comparisons]
    trained = [r for r in scratch if r.reused_from is None]
    assert len(trained) == 1 and all(r.reused_from == trained[0].run_id for r in scratch if r is not trained[0])
    assert len({c.transfer[0].run_id for c in comparisons}) == 4 and all(not c.transfer[0].reused_from for c in comparisons)
    rows, problems = store.list_runs(status="completed")
    assert len(rows) == 8 and not problems  # the workers wrote into the store themselves
    xs, ys, cells = grid_values(comparisons, "freeze_depth", "lr", "test_acc", "gain")
    assert xs == [3, 6] and ys == [1e-3, 1e-2]
    cell = comparisons[1].summary()  # depth 3, lr 1e-2
    assert cells[1][0] == pytest.approx(cell["transfer"]["test_acc"] - cell["scratch"]["test_acc"])
    figure = sweep_heatmap(comparisons, "freeze_depth", "lr", role="gain")
    assert [list(row) for row in figure.data[0].z] == cells and figure.data[0].zmid == 0
    (group,) = grid_groups(list(group_comparisons(store.scan()[0]).values()))  # found again from the store alone
    assert (group.parameter, group.parameter2) == ("freeze_depth", "lr") and len(group.comparisons) == 4
    assert not grid_groups(comparisons[:2])  # one value of lr: a line, not a grid


def test_the_forms_build_the_same_grid_as_the_command_line():
    values = {"dataset": "digits:0-2", "epochs": 1}
    configs = configs_from_values(values, "freeze_depth", "3 6", "lr", "1e-3 1e-2")
    points = sweep_grid(configs_from_values(values)[0], "freeze_depth", [3, 6], "lr", [1e-3, 1e-2])
    assert [c.transfer for c in configs] == [p.config.transfer for p in points]
    with pytest.raises(ConfigError, match="given twice"):
        configs_from_values(values, "lr", "1e-3", "lr", "1e-2")


def _workbench(*args):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    return subprocess.run([sys.executable, "-m", "workbench.cli.main", *args], capture_output=True, text=True, env=env,
                          timeout=600)


TINY_CLI = ["--dataset", "digits:0-2", "--train-per-class", "4", "--image-size", "32", "--epochs", "1",
            "--batch-size", "6", "--device", "cpu"]


def test_workbench_sweep_prints_the_grid_and_runs_lists_the_reuse(tmp_path):
    result = _workbench("sweep", "--param", "freeze_depth", "--values", "3 6", "--workers", "1", *TINY_CLI,
                        "--runs-dir", str(tmp_path))  # in this process (the test on two workers covers the pool)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["freeze_depth", "transfer", "test"]
    assert lines[1].split()[-1] == "trained" and "reused from s-" in lines[2]
    listed = json.loads(_workbench("runs", "--runs-dir", str(tmp_path), "--json", "--filter", "role=scratch").stdout)
    assert sorted(bool(r["reused_from"]) for r in listed["runs"]) == [False, True]


@pytest.mark.parametrize("args, message", [
    (["--param", "colour", "--values", "1"], "invalid choice: 'colour'"),
    (["--param", "lr", "--values", "fast"], "takes numbers, got 'fast'"),
    (["--param", "lr", "--values", "1e-3", "--param2", "epochs"], "--param2 and --values2 go together"),
    (["--param", "lr", "--values", "1e-3", "--workers", "0"], "--workers must be at least 1"),
])
def test_sweep_mistakes_are_one_line_errors(tmp_path, args, message):
    result = _workbench("sweep", *args, *TINY_CLI, "--runs-dir", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# --- Ray -------------------------------------------------------------------------------------------


def _start_local_ray(ray, tries: int = 2) -> None:
    """ray.init gives its node 30 s to register: on a CPU busy with other work, try once more."""
    for attempt in range(tries):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            return
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception for this
            ray.shutdown()
            if "timed out during startup" not in str(exc) or attempt == tries - 1:
                raise


def test_a_sweep_on_ray_sends_records_back_to_the_driver(one_epoch, store, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'transfer-workbench[ray]'")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    started = time.perf_counter()
    _start_local_ray(ray)
    try:
        points = sweep_grid(ComparisonConfig(one_epoch), "freeze_depth", [3, 6])
        comparisons = run_sweep(points, store, executor="ray")
    finally:
        ray.shutdown()
    scratch = [c.scratch[0] for c in comparisons]
    assert scratch[0].reused_from is None and scratch[1].reused_from == scratch[0].run_id
    rows, _ = store.list_runs(status="completed")
    assert sorted(r["run_id"] for r in rows) == sorted(r.run_id for c in comparisons for r in c.transfer + c.scratch)
    assert all((store.root / r["run_id"] / "record.json").is_file() for r in rows)  # written here, by the driver
    print(f"Ray sweep test: {time.perf_counter() - started:.1f} s including ray.init")
