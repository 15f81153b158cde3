"""Checks that need a CUDA GPU; skipped on CPU-only machines (CI has none)."""

from dataclasses import replace

import pytest
import torch

from workbench.training.train import train_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_device_trains_on_the_gpu_with_mixed_precision(tiny, store):
    record = train_run(replace(tiny, device="auto", backbone="resnet18", pretrained=False), store)
    assert record.status == "completed"
    assert record.environment["device"].startswith("cuda")
    assert record.environment["mixed_precision"] == "cuda-amp"
    assert 0 < record.epochs[-1].peak_mem_bytes < torch.cuda.get_device_properties(0).total_memory


def test_the_feature_cache_lives_on_the_gpu_and_matches(tiny, store):
    cached = train_run(replace(tiny, device="cuda", backbone="resnet18", pretrained=False, freeze_depth=3), store)
    plain = train_run(replace(tiny, device="cuda", backbone="resnet18", pretrained=False, freeze_depth=3,
                              cache_features=False), store)
    assert [e.val_acc for e in cached.epochs] == [e.val_acc for e in plain.epochs]
