"""The command line, run as a user runs it: a real subprocess."""

import json
import os
import subprocess
import sys

import pytest

from workbench.cli.main import main

TINY = ["--dataset", "digits:0-2", "--train-per-class", "4", "--image-size", "32", "--epochs", "2",
        "--batch-size", "6", "--device", "cpu"]


def workbench(*args, cwd=None, env_extra=None):
    env = dict(os.environ, OMP_NUM_THREADS="2", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "workbench.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_compare_json_holds_both_runs_with_their_costs(tmp_path):
    result = workbench("compare", *TINY, "--runs-dir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for role in ("transfer", "scratch"):
        run = summary[role]
        for key in ("best_val_acc", "final_val_acc", "test_acc", "wall_s", "train_flops", "trainable_params",
                    "total_params", "peak_mem_bytes", "epochs"):
            assert run[key] is not None, (role, key)
        assert len(run["epochs"]) == 2 and run["train_flops"] > 0
    assert summary["transfer"]["pretrained"] is True and summary["scratch"]["pretrained"] is False
    assert summary["scratch"]["lr"] == 3e-3

    listed = workbench("runs", "--runs-dir", str(tmp_path), "--json")
    assert {r["role"] for r in json.loads(listed.stdout)["runs"]} == {"transfer", "scratch"}
    exported = workbench("export", summary["transfer"]["run_id"], "--csv", "--runs-dir", str(tmp_path))
    assert exported.returncode == 0 and len(exported.stdout.strip().splitlines()) == 3


def test_compare_prints_a_side_by_side_table(tmp_path):
    result = workbench("compare", *TINY, "--freeze", "6", "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["transfer", "scratch"]
    assert any(line.startswith("trainable params") for line in lines)
    assert "val acc" in lines[-1]


def test_two_seeds_give_mean_and_spread(tmp_path):
    result = workbench("compare", *TINY, "--epochs", "1", "--seeds", "0 1", "--runs-dir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    transfer = json.loads(result.stdout)["transfer"]
    assert transfer["seeds"] == [0, 1] and transfer["test_acc_std"] is not None
    assert "val_acc_std" in transfer["epochs"][0]


def test_backbones_lists_stages_params_and_offline_weights(tmp_path):
    result = workbench("backbones", "--json", env_extra={"TORCH_HOME": str(tmp_path)})
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["efficientnet_lite0"]["weights_offline"] is True
    assert rows["resnet18"]["weights_offline"] is False
    assert rows["resnet18"]["stages"] == ["stem", "layer1", "layer2", "layer3", "layer4"]


def test_datasets_lists_builtins_and_torchvision():
    out = workbench("datasets").stdout
    for name in ("digits", "textures", "imagefolder:PATH", "cifar10", "flowers102", "oxford_pets", "eurosat", "dtd"):
        assert name in out


def _empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    return f"imagefolder:{tmp_path / 'empty'}"


def _single_class(tmp_path):
    from PIL import Image

    (tmp_path / "one" / "cats").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "one" / "cats" / "a.png")
    return f"imagefolder:{tmp_path / 'one'}"


@pytest.mark.parametrize("args, message", [
    (["--backbone", "resnet19"], "unknown backbone 'resnet19'"),
    (["--dataset", "mnist2"], "unknown dataset 'mnist2'"),
    (["--freeze", "9"], "freeze depth 9 is out of range"),
    (["--lr", "-1"], "lr must be a positive number"),
    (["--epochs", "0"], "epochs must be at least 1"),
    (["--dataset", _empty_folder], "no images found"),
    (["--dataset", _single_class], "single class"),
    (["--backbone", "resnet18"], "place resnet18-f37072fd.pth"),
])
def test_user_mistakes_are_one_line_errors_with_exit_code_2(tmp_path, args, message, monkeypatch, capsys):
    """In this process (each case in a new one took 5 s of imports); a traceback would fail the test here."""
    args = [a(tmp_path) if callable(a) else a for a in args]
    for name, value in {"TORCH_HOME": str(tmp_path / "torch"), "https_proxy": "http://127.0.0.1:9",
                        "HTTPS_PROXY": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    assert main(["compare", *TINY, *args, "--runs-dir", str(tmp_path / "runs")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.strip().splitlines()[-1].startswith("error: ")
    assert message in stderr and "Traceback" not in stderr


def test_a_mistake_in_a_process_of_its_own_ends_it_with_one_line_and_exit_code_2(tmp_path):
    result = workbench("compare", *TINY, "--lr", "-1", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and result.stderr.strip().splitlines() == ["error: lr must be a positive number, got -1.0"]


@pytest.mark.parametrize("argv, hint", [
    (["compare", "--seed", "1", "--epochs", "0"], "(did you mean --seeds?)"),  # was read as --seeds 1, and trained
    (["compare", "--frezee", "3"], "(did you mean --freeze?)"),
    (["compare", "--freeze-depth", "3"], "(did you mean --freeze?)"),  # the option's name, not its flag
    (["train", "--epoch", "2", "--lr", "-1"], "(did you mean --epochs?)"),
    (["compare", "--data", "digits"], "(did you mean --dataset or --data-dir?)"),
    (["weights", "fetch", "--al", "--mirror", "http://127.0.0.1:9"], "(did you mean --all?)"),
    (["dashboard", "--runs", "x", "--max-jobs", "0"], "(did you mean --runs-dir?)"),  # Streamlit's flags have a dot
])  # each also refused by a check of its own, should a prefix ever be read again: nothing trains or serves
def test_an_option_is_never_taken_for_its_prefix_and_a_typo_names_the_closest_flag(argv, hint, capsys):
    from workbench.cli.exits import EXIT_USAGE
    from workbench.cli.main import main

    with pytest.raises(SystemExit) as stopped:
        main(argv)
    error = capsys.readouterr().err
    assert stopped.value.code == EXIT_USAGE and error.count("\n") == 1
    assert error.startswith("error: unrecognized arguments: ") and error.rstrip().endswith(hint)


def test_no_parser_accepts_abbreviations():
    import argparse

    from workbench.cli.main import build_parser

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    assert [p.prog for p in parsers(build_parser()) if p.allow_abbrev] == []


def test_runs_lists_freeze_depth_rate_and_every_setting_that_differs(tmp_path, capsys):
    from dataclasses import replace

    from workbench.cli.main import main
    from workbench.core.records import RunRecord
    from workbench.spec.config import RunConfig
    from workbench.store.runs import RunStore

    store = RunStore(tmp_path)
    for index, (depth, lr, size) in enumerate([(0, 1e-3, 64), (3, 1e-3, 64), (3, 1e-2, 96)]):
        config = replace(RunConfig(), freeze_depth=depth, lr=lr, image_size=size)
        store.save(RunRecord(f"r-{index}", config.to_dict(), role="transfer", status="completed", test_acc=0.5))
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    head, *lines = capsys.readouterr().out.splitlines()
    assert head.split()[6:10] == ["freeze", "lr", "--image-size", "epochs"]  # epochs and seed alike: no column
    assert sorted(line.split()[5:8] for line in lines) == [["0", "1e-3", "64"], ["3", "0.01", "96"], ["3", "1e-3", "64"]]
