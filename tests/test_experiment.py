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


def test_transfer_from_your_own_source_run(tiny, store):
    from workbench.train import train_run

    source = train_run(replace(tiny, dataset="digits:0-4", pretrained=False), store, save_checkpoint=True)
    config = ComparisonConfig(replace(tiny, dataset="digits:5-9", init_run=source.run_id), scratch_lr=0.01)
    comparison = run_comparison(config, store)
    transfer = comparison.transfer[0]
    assert transfer.config["init_run"] == source.run_id and comparison.scratch[0].config["init_run"] is None
    from workbench.train import build_model
    import torch

    model = build_model(replace(tiny, init_run=source.run_id), 5, torch.device("cpu"), store)
    learned = store.load_checkpoint(source.run_id)
    assert torch.equal(model.stages["stem"][0].weight, learned["stages.stem.0.weight"])
    assert model.head.out_features == 5


def test_init_from_a_run_of_another_backbone_is_refused(tiny, store):
    from workbench.errors import ConfigError
    from workbench.train import train_run

    source = train_run(replace(tiny, backbone="resnet18", pretrained=False, epochs=1), store, save_checkpoint=True)
    with pytest.raises(ConfigError, match="use --backbone resnet18"):
        train_run(replace(tiny, init_run=source.run_id), store)
