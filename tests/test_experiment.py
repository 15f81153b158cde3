from dataclasses import replace

import pytest

from workbench.core.errors import ConfigError
from workbench.experiments.comparisons import load_comparison
from workbench.experiments.runner import run_comparison
from workbench.spec.config import ComparisonConfig
from workbench.training.lr_finder import find_lr, suggest_lr


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
    from workbench.training.train import train_run

    source = train_run(replace(tiny, dataset="digits:0-4", pretrained=False), store, save_checkpoint=True)
    config = ComparisonConfig(replace(tiny, dataset="digits:5-9", init_run=source.run_id), scratch_lr=0.01)
    comparison = run_comparison(config, store)
    transfer = comparison.transfer[0]
    assert transfer.config["init_run"] == source.run_id and comparison.scratch[0].config["init_run"] is None
    import torch

    from workbench.training.build import build_model

    model = build_model(replace(tiny, init_run=source.run_id), 5, torch.device("cpu"), store)
    learned = store.load_checkpoint(source.run_id)
    assert torch.equal(model.stages["stem"][0].weight, learned["stages.stem.0.weight"])
    assert model.head.out_features == 5


def test_init_stages_copies_only_the_first_stages_and_the_rest_start_fresh(tiny, store):
    import torch

    from workbench.training.build import build_model
    from workbench.training.train import train_run

    source = train_run(replace(tiny, dataset="digits:0-4", pretrained=False, epochs=1), store, save_checkpoint=True)
    learned = store.load_checkpoint(source.run_id)
    copied = build_model(replace(tiny, init_run=source.run_id, init_stages=2), 5, torch.device("cpu"), store)
    fresh = build_model(replace(tiny, pretrained=False), 5, torch.device("cpu"), store)  # the same seed's start
    names = list(copied.stages)
    for index, name in enumerate(names):
        for key, value in copied.stages[name].state_dict().items():
            expected = learned[f"stages.{name}.{key}"] if index < 2 else fresh.stages[name].state_dict()[key]
            assert torch.equal(value, expected), (name, key)
    scratch = ComparisonConfig(replace(tiny, init_run=source.run_id, init_stages=2)).scratch(0)
    assert scratch.init_run is None and scratch.init_stages is None
    with pytest.raises(ConfigError, match="give init_run too"):
        replace(tiny, init_stages=2).validate()


def test_init_from_a_run_of_another_backbone_is_refused(tiny, store):
    from workbench.core.errors import ConfigError
    from workbench.training.train import train_run

    source = train_run(replace(tiny, backbone="resnet18", pretrained=False, epochs=1), store, save_checkpoint=True)
    with pytest.raises(ConfigError, match="use --backbone resnet18"):
        train_run(replace(tiny, init_run=source.run_id), store)


def _recorded(comparison_id: str, test_acc: float, **changes) -> list:
    from workbench.core.records import RunRecord
    from workbench.spec.config import RunConfig

    config = replace(RunConfig(), **changes).to_dict()
    scratch = {**config, "pretrained": False, "freeze_depth": 0, "lr": 3e-3}
    return [RunRecord(f"{comparison_id}-t", config, role="transfer", comparison_id=comparison_id, test_acc=test_acc),
            RunRecord(f"{comparison_id}-s", scratch, role="scratch", comparison_id=comparison_id, test_acc=0.2)]


def test_sweep_groups_join_only_comparisons_that_differ_in_the_swept_setting():
    from workbench.experiments.comparisons import group_comparisons
    from workbench.experiments.grouping import sweep_groups

    records = [*_recorded("a", 0.9, freeze_depth=0), *_recorded("b", 0.8, freeze_depth=3),
               *_recorded("c", 0.5, freeze_depth=3, epochs=5), *_recorded("d", 0.7, freeze_depth=6, bn_policy="train")]
    comparisons = list(group_comparisons(records).values())
    (depths,) = sweep_groups(comparisons, "freeze_depth")
    assert sorted((p["freeze_depth"], p["transfer"]["test_acc"]) for p in depths.points) == [(0, 0.9), (3, 0.8)]
    assert depths.fixed["epochs"] == 15 and depths.fixed["bn_policy"] == "frozen" and "freeze_depth" not in depths.fixed
    (epochs,) = sweep_groups(comparisons, "epochs")
    assert {p["comparison_id"] for p in epochs.points} == {"b", "c"}
    assert sweep_groups(comparisons, "lr") == [] and sweep_groups(comparisons, "bn_policy") == []
