"""The command line, run as a user runs it: a real subprocess."""

import json
import os
import subprocess
import sys

import pytest

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
def test_user_mistakes_are_one_line_errors_with_exit_code_2(tmp_path, args, message):
    args = [a(tmp_path) if callable(a) else a for a in args]
    env = {"TORCH_HOME": str(tmp_path / "torch"), "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    result = workbench("compare", *TINY, *args, "--runs-dir", str(tmp_path / "runs"), env_extra=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert message in result.stderr and "Traceback" not in result.stderr
