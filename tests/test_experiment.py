from dataclasses import replace

import pytest

from workbench.config import ComparisonConfig
from workbench.experiment import load_comparison, run_comparison
from workbench.lr_finder import find_lr, suggest_lr


def test_transfer_and_scratch_share_data_splits_epochs_and_seed(tiny, store):
    config = ComparisonConfig(replace(tiny, freeze_depth=3, lr_backbone_mult=0.1), scratch_lr=0.01)
    comparison = run_comparison(config, store)
    (transfer,), (scratch,) = comparison.transfer, comparison.scratch
    assert transfer.data_sizes == scratch.data_sizes
    for key in ("dataset", "epochs", "batch_size", "seed", "split_seed", "image_size", "augment", "train_per_class"):
        assert transfer.config[key] == scratch.config[key], key
    assert transfer.config["pretrained"] and not scratch.config["pretrained"]
    assert scratch.config["freeze_depth"] == 0 and scratch.config["lr"] == 0.01
    assert transfer.epochs[0].trainable_params < scratch.epochs[0].trainable_params
    again = load_comparison(store, comparison.comparison_id)
    assert again.summary()["transfer"]["test_acc"] == comparison.summary()["transfer"]["test_acc"]


def test_lr_finder_returns_a_curve_and_a_suggestion_inside_it(tiny):
    result = find_lr(tiny, steps=12)
    assert len(result.lrs) == len(result.losses) >= 3
    assert result.lrs == sorted(result.lrs)
    assert result.lrs[0] <= result.suggested_lr <= result.lrs[-1]


def test_suggestion_is_the_steepest_descent():
    lrs = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert suggest_lr(lrs, [2.0, 2.0, 2.0, 1.0, 0.9, 0.9, 5.0]) == pytest.approx(1e-3)
