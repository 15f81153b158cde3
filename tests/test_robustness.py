"""Bad input, faults and untrusted files: each gets a clear answer and loses nothing recorded."""

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.core.errors import ResourceError, RunStoreError, WeightsError
from workbench.data.kinds.folders import decode_image
from workbench.data.loading import load_data
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore
from workbench.training.build import restore_model
from workbench.training.train import Hooks, train_run

TINY_CLI = ["--dataset", "digits:0-2", "--train-per-class", "4", "--image-size", "32", "--batch-size", "6",
            "--device", "cpu"]


def _cli(*args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "workbench.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


# --- images -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("RGBA", ".png"), ("P", ".png"), ("CMYK", ".jpg"),
                                          ("I;16", ".png"), ("1", ".bmp"), ("RGB", ".webp")])
def test_every_common_image_mode_becomes_rgb(tmp_path, mode, suffix):
    path = tmp_path / f"image{suffix}"
    if mode == "I;16":
        Image.fromarray((np.arange(40 * 30).reshape(30, 40) * 50).astype(np.uint16)).save(path)
    else:
        Image.new(mode, (40, 30), 1 if mode == "1" else 100).save(path)
    image = decode_image(path, 16)
    assert isinstance(image, torch.Tensor) and image.shape == (3, 16, 16) and image.dtype == torch.uint8


def test_a_truncated_image_is_skipped(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    assert "truncated" in decode_image(path, 16)


def test_decompression_bombs_are_refused_with_the_reason(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)
    assert "decompression-bomb guard" in decode_image(path, 16)


def _folder_bundle(root, size):
    return load_data(RunConfig(dataset=f"imagefolder:{root}", image_size=size, train_per_class=None,
                               max_eval_per_class=None))


def _classes(root, names, per_class=4, size=(30, 20)):
    for c, name in enumerate(names):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", (size[0] + 7 * i, size[1] + 3 * c), (60 * c, 20 * i, 90)).save(root / name / f"{i}.jpg")


def test_class_names_with_spaces_and_non_ascii_and_mixed_sizes(tmp_path):
    _classes(tmp_path, ["golden retriever", "café crème", "Ölfarbe 🎨"])
    bundle = _folder_bundle(tmp_path, 24)
    assert bundle.classes == ["café crème", "golden retriever", "Ölfarbe 🎨"]
    assert sum(bundle.size(s) for s in ("train", "val", "test")) == 12


def test_an_empty_class_folder_is_left_out_and_said(tmp_path):
    _classes(tmp_path, ["ants", "bees"])
    (tmp_path / "wasps").mkdir()
    bundle = _folder_bundle(tmp_path, 16)
    assert bundle.classes == ["ants", "bees"]
    assert any("'wasps' has no images" in note for note in bundle.notes)


def test_symlink_loops_do_not_hang(tmp_path):
    _classes(tmp_path, ["ants", "bees"])
    os.symlink(tmp_path, tmp_path / "ants" / "loop")
    bundle = _folder_bundle(tmp_path, 16)
    assert sum(bundle.size(s) for s in ("train", "val", "test")) == 8


def test_a_bomb_in_a_folder_is_counted_with_its_reason(tmp_path, monkeypatch):
    _classes(tmp_path, ["ants", "bees"], per_class=5)
    Image.new("RGB", (300, 300)).save(tmp_path / "ants" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30_000)
    bundle = _folder_bundle(tmp_path, 16)
    assert sum(bundle.size(s) for s in ("train", "val", "test")) == 10
    assert any("decompression-bomb guard" in note for note in bundle.notes)


# --- weights and checkpoints ------------------------------------------------------------------------


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_cached_weights_file_holding_code_is_refused(torch_home, tmp_path, monkeypatch):
    from workbench.models.backbones import get_backbone

    monkeypatch.chdir(tmp_path)
    backbone = get_backbone("resnet18")
    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    with open(cache / backbone.weights.file_name, "wb") as stream:
        pickle.dump({"conv1.weight": Evil()}, stream)
    with pytest.raises(WeightsError, match="cannot be read"):
        backbone.build(pretrained=True, num_classes=3)
    assert not (tmp_path / "pwned").exists()


def test_a_checkpoint_restores_and_one_of_another_class_count_is_refused(tiny, store):
    record = train_run(replace(tiny, epochs=1), store, save_checkpoint=True)
    model = restore_model(store, record.run_id)
    assert model.head.out_features == 3
    other = train_run(replace(tiny, epochs=1, dataset="digits:0-3"), store, save_checkpoint=True)
    (store.root / record.run_id / "model.pt").write_bytes((store.root / other.run_id / "model.pt").read_bytes())
    with pytest.raises(RunStoreError, match="does not fit efficientnet_lite0 with 3 classes"):
        restore_model(store, record.run_id)


# --- the run store --------------------------------------------------------------------------------


def test_disk_full_while_writing_keeps_the_previous_record(tiny, store, monkeypatch):
    from workbench.core import files  # the store writes through it

    record = train_run(replace(tiny, epochs=1), store)
    before = (store.root / record.run_id / "record.json").read_text()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    record.status = "changed"
    with pytest.raises(RunStoreError, match="No space left on device.*free some space"):
        store.save(record)
    assert (store.root / record.run_id / "record.json").read_text() == before
    assert os.listdir(store.root / record.run_id) == ["record.json"]


def test_out_of_gpu_memory_is_a_clear_error_and_a_failed_record(tiny, store):
    class OOM(Hooks):
        def on_step(self, record, epoch, step, loss):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(ResourceError, match="try --batch-size 3 or a smaller --image-size"):
        train_run(tiny, store, hooks=OOM())
    (record,), _ = store.scan()
    assert record.status == "failed" and "out of GPU memory" in record.error


# --- real processes -------------------------------------------------------------------------------


def _wait_for_epochs(runs_dir, count, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for path in runs_dir.glob("*/record.json"):
            try:
                if len(json.loads(path.read_text())["epochs"]) >= count:
                    return
            except ValueError:
                pytest.fail("a reader saw a half-written record")
        time.sleep(0.1)
    pytest.fail("the run never finished an epoch")


def _ignore_ctrl_c():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("started_ignoring_ctrl_c", [False, True], ids=["from a terminal", "as a script's background job"])
def test_sigint_mid_run_saves_it_as_interrupted_and_the_next_run_works(tmp_path, started_ignoring_ctrl_c):
    """A script's background job starts with Ctrl-C ignored: seen, the teacher's Stop (a Ctrl-C) did not stop it."""
    runs_dir = tmp_path / "runs"
    process = _cli("train", *TINY_CLI, "--epochs", "200", "--runs-dir", str(runs_dir),
                   preexec_fn=_ignore_ctrl_c if started_ignoring_ctrl_c else None)
    _wait_for_epochs(runs_dir, 2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    (record,), problems = RunStore(runs_dir).scan()
    assert record.status == "interrupted" and 2 <= len(record.epochs) < 200 and not problems
    again = _cli("train", *TINY_CLI, "--epochs", "1", "--runs-dir", str(runs_dir))
    again.communicate(timeout=120)
    assert again.returncode == 0


def test_sigterm_mid_comparison_saves_it_as_interrupted_too(tmp_path):
    runs_dir = tmp_path / "runs"  # `kill`, a cluster's time limit or a stopping container sends SIGTERM
    process = _cli("compare", *TINY_CLI, "--epochs", "200", "--runs-dir", str(runs_dir))
    _wait_for_epochs(runs_dir, 1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in stderr and "interrupted" in stderr
    records, problems = RunStore(runs_dir).scan()
    assert [r.status for r in records] == ["interrupted"] and 1 <= len(records[0].epochs) < 200 and not problems


def test_two_writers_and_a_reader_share_a_run_folder(tmp_path):
    runs_dir = tmp_path / "runs"
    writers = [_cli("compare", *TINY_CLI, "--epochs", "3", "--seeds", str(seed), "--runs-dir", str(runs_dir))
               for seed in (0, 1)]
    seen_partial = False
    while any(w.poll() is None for w in writers):
        for path in runs_dir.glob("*/record.json"):
            try:
                data = json.loads(path.read_text())
            except FileNotFoundError:
                continue
            except ValueError:
                pytest.fail(f"read a half-written record: {path}")
            if data["status"] == "completed":
                assert data["test_acc"] is not None and len(data["epochs"]) == 3
            else:
                seen_partial = True
        time.sleep(0.05)
    assert all(w.returncode == 0 for w in writers)
    records, problems = RunStore(runs_dir).scan()
    assert len(records) == 4 and not problems
    assert all(r.status == "completed" and len(r.epochs) == 3 for r in records)
    assert len({r.comparison_id for r in records}) == 2
    assert seen_partial  # the reader really did look while the runs were in progress
