from dataclasses import replace

import pytest

from workbench.core.errors import ConfigError
from workbench.training.train import Hooks, StopRequested, train_run


def test_a_run_records_every_epoch_and_its_costs(tiny, store):
    record = train_run(tiny, store)
    assert record.status == "completed" and len(record.epochs) == 2
    first, last = record.epochs
    assert first.images_seen == 12 and last.images_seen == 24
    assert 0 < first.train_flops < last.train_flops == first.epoch_flops + last.epoch_flops
    assert last.cum_s == pytest.approx(first.epoch_s + last.epoch_s)
    assert last.trainable_params == last.total_params > 3_000_000
    assert last.peak_mem_bytes > 0 and last.throughput > 0
    assert set(last.lrs) == {"stem", "stage1", "stage2", "stage3", "stage4", "conv_head", "head"}
    assert 0 <= record.test_acc <= 1 and len(record.confusion) == 3
    assert sum(map(sum, record.confusion)) == record.data_sizes["test"]
    saved = store.load(record.run_id)
    assert saved.to_dict() == record.to_dict()


def test_the_same_seed_gives_the_same_curve(tiny, store):
    a = train_run(tiny, store)
    b = train_run(tiny, store)
    assert [e.train_loss for e in a.epochs] == [e.train_loss for e in b.epochs]
    assert [e.val_acc for e in a.epochs] == [e.val_acc for e in b.epochs]


def test_a_frozen_backbone_trains_only_the_head_and_costs_less(tiny, store):
    full = train_run(tiny, store)
    probe = train_run(replace(tiny, freeze_depth=6), store)
    assert probe.epochs[-1].trainable_params == 1280 * 3 + 3
    assert probe.epochs[-1].train_flops < full.epochs[-1].train_flops / 2.5
    assert list(probe.epochs[-1].lrs) == ["head"]


def test_gradual_unfreezing_thaws_a_stage_each_epoch(tiny, store):
    record = train_run(replace(tiny, freeze_depth=6, unfreeze_every=1, epochs=3), store)
    assert [e.freeze_depth for e in record.epochs] == [6, 5, 4]
    assert list(record.epochs[-1].lrs) == ["head", "conv_head", "stage4"]
    assert record.epochs[0].epoch_flops < record.epochs[2].epoch_flops


class StopAfter(Hooks):
    def __init__(self, epochs):
        self.epochs = epochs
        self.seen = 0

    def on_epoch(self, record):
        self.seen += 1

    def should_stop(self):
        return self.seen >= self.epochs


def test_a_stop_request_saves_the_run_as_interrupted_with_finished_epochs(tiny, store):
    with pytest.raises(StopRequested):
        train_run(replace(tiny, epochs=5), store, hooks=StopAfter(2))
    (record,), _ = store.scan()
    assert record.status == "interrupted" and len(record.epochs) == 2 and record.finished


def test_ctrl_c_mid_epoch_keeps_finished_epochs(tiny, store):
    class CtrlC(Hooks):
        def on_step(self, record, epoch, step, loss):
            if epoch == 2 and step == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(tiny, store, hooks=CtrlC())
    (record,), _ = store.scan()
    assert record.status == "interrupted" and [e.epoch for e in record.epochs] == [1]
    assert train_run(tiny, store).status == "completed"  # the next run works


def test_a_crash_is_recorded_as_failed_with_its_message(tiny, store):
    class Crash(Hooks):
        def on_epoch(self, record):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        train_run(tiny, store, hooks=Crash())
    (record,), _ = store.scan()
    assert record.status == "failed" and "disk on fire" in record.error and len(record.epochs) == 1


@pytest.mark.parametrize("change, message", [
    ({"freeze_depth": 7}, "use 0..6"),
    ({"lr": 0.0}, "lr must be a positive number"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"batch_size": -1}, "batch_size must be at least 1"),
    ({"image_size": 8}, "too small"),
    ({"backbone": "alexnet"}, "unknown backbone"),
])
def test_bad_hyperparameters_are_refused_before_any_work(tiny, store, change, message):
    with pytest.raises(ConfigError, match=message):
        train_run(replace(tiny, **change), store)
    assert store.scan() == ([], {})


@pytest.mark.parametrize("depth", [6, 3])
def test_the_feature_cache_gives_exactly_the_same_numbers(tiny, store, depth):
    cached = train_run(replace(tiny, freeze_depth=depth, epochs=3), store)
    plain = train_run(replace(tiny, freeze_depth=depth, epochs=3, cache_features=False), store)
    assert [e.train_loss for e in cached.epochs] == pytest.approx([e.train_loss for e in plain.epochs], rel=1e-5)
    assert [e.val_acc for e in cached.epochs] == [e.val_acc for e in plain.epochs]
    assert cached.test_acc == plain.test_acc
    assert [e.features_cached for e in cached.epochs] == [True] * 3
    assert [e.features_cached for e in plain.epochs] == [False] * 3
    assert [e.freeze_depth for e in cached.epochs] == [depth] * 3
    # The prefix runs once (epoch 1), then later epochs cost only the trainable suffix.
    assert cached.epochs[1].epoch_flops < plain.epochs[1].epoch_flops
    assert cached.epochs[0].epoch_flops >= plain.epochs[0].epoch_flops * 0.99


def test_the_evaluation_batch_changes_how_fast_not_what_is_measured(tiny, store, monkeypatch):
    """Evaluation and the feature cache run the batch a calibration found fastest: the numbers stay the same."""
    from workbench.data.batches import Batches
    from workbench.training import train

    seen = []
    in_order = Batches.in_order
    monkeypatch.setattr(Batches, "in_order", lambda self, batch: seen.append(batch) or in_order(self, batch))
    records = {}
    for batch in (3, 256):
        monkeypatch.setattr(train, "inference_batch", lambda *args, batch=batch: batch)
        seen.clear()
        records[batch] = train_run(replace(tiny, freeze_depth=3, epochs=3), store)
        assert set(seen) == {batch}  # the cache of each split, every validation and the test
    small, large = records[3], records[256]
    assert [e.val_acc for e in small.epochs] == [e.val_acc for e in large.epochs]
    assert [e.val_loss for e in small.epochs] == pytest.approx([e.val_loss for e in large.epochs], rel=1e-5)
    assert [e.train_loss for e in small.epochs] == pytest.approx([e.train_loss for e in large.epochs], rel=1e-5)
    assert small.test_acc == large.test_acc and small.confusion == large.confusion


@pytest.mark.parametrize("change, reason", [
    ({"augment": True}, "augmentation"),
    ({"bn_policy": "train"}, "bn_policy=train"),
    ({"freeze_depth": 0}, "no stage is frozen"),
])
def test_the_record_says_why_the_cache_was_not_used(tiny, store, change, reason):
    record = train_run(replace(tiny, **{"freeze_depth": 3, **change}), store)
    assert reason in record.speed_notes[0]
    assert not any(e.features_cached for e in record.epochs)


def test_gradual_unfreezing_rebuilds_the_cache_at_each_new_depth(tiny, store):
    record = train_run(replace(tiny, freeze_depth=6, unfreeze_every=1, epochs=3), store)
    assert [e.features_cached for e in record.epochs] == [True] * 3
    assert [e.freeze_depth for e in record.epochs] == [6, 5, 4]
    assert record.speed_notes == ["epoch 1: frozen stages 1-6 cached", "epoch 2: frozen stages 1-5 cached",
                                  "epoch 3: frozen stages 1-4 cached"]


def test_frozen_stages_are_deterministic_in_training_mode():
    import torch

    from workbench.models.backbones import get_backbone
    from workbench.models.freezing import set_freeze_depth

    model = get_backbone("efficientnet_lite0").build(pretrained=False, num_classes=3)  # has stochastic depth
    set_freeze_depth(model, 6)
    model.train()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model.features(x), model.features(x))


def test_cpu_bfloat16_autocast_runs_and_is_recorded(tiny, store):
    record = train_run(replace(tiny, precision="bf16"), store)
    assert record.status == "completed" and record.environment["mixed_precision"] == "cpu-bf16"
    assert record.environment["precision"] == "bf16" and "bf16 was asked for" in record.environment["precision_reason"]
    assert all(e.train_loss == e.train_loss for e in record.epochs)  # no NaN


@pytest.mark.slow
def test_compiled_stages_train_to_the_same_numbers(tiny, store):
    """Minutes of compilation on a CPU (65 s on 16 cores, over 15 minutes on 2): run with -m slow."""
    tiny = replace(tiny, backbone="resnet18", pretrained=False, freeze_depth=3, channels_last=False)
    eager = train_run(tiny, store)
    compiled = train_run(replace(tiny, compile=True), store)
    assert compiled.environment["compiled"] is True
    assert [e.train_loss for e in compiled.epochs] == pytest.approx([e.train_loss for e in eager.epochs], rel=1e-3)


def test_batches_are_the_backbone_s_own_preprocessing(tiny):
    import torch

    from workbench.data.loading import load_data
    from workbench.models.backbones import get_backbone
    from workbench.training.train import split_batches

    data = load_data(tiny)
    x, y = split_batches(tiny, data, torch.device("cpu"))["val"].get(torch.arange(3))
    assert torch.equal(x, get_backbone(tiny.backbone).preprocess(data.images["val"][:3]))
    assert torch.equal(y, data.labels["val"][:3])


def test_records_written_with_the_old_freeze_names_still_load():
    from workbench.core.records import RunRecord

    epoch = dict(epoch=1, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, lrs={"head": 0.1}, epoch_s=1.0,
                 cum_s=1.0, images_seen=4, epoch_flops=10, train_flops=10, trainable_params=5, total_params=9,
                 peak_mem_bytes=100, throughput=4.0)
    old = RunRecord.from_dict({"run_id": "r-old", "config": {}, "epochs": [
        {**epoch, "frozen_stages": 6, "cached_stages": 6}, {**epoch, "frozen_stages": 2, "cached_stages": 0}]})
    assert [(e.freeze_depth, e.features_cached) for e in old.epochs] == [(6, True), (2, False)]
    new = RunRecord.from_dict(old.to_dict())
    assert new == old and "frozen_stages" not in old.to_dict()["epochs"][0]


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_the_fused_update_moves_the_weights_as_the_per_tensor_loop_does(name):
    """The optimizer runs fused on the CPU (one kernel for every tensor) and lands where PyTorch's loop lands,
    a group added mid-run (gradual unfreezing) included."""
    import torch

    from workbench.training.optim import make_optimizer

    def trained(fused: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        early, late = torch.nn.Linear(6, 5), torch.nn.Linear(5, 3)
        if fused:
            optimizer = make_optimizer([{"params": list(late.parameters()), "lr": 0.05}], name, 0.05, 1e-2, 0.9)
            assert optimizer.defaults["fused"]
        elif name == "sgd":
            optimizer = torch.optim.SGD(late.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2,
                                        foreach=False)
        else:
            optimizer = torch.optim.AdamW(late.parameters(), lr=0.05, weight_decay=1e-2, foreach=False)
        x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
        for step in range(6):
            if step == 3:
                optimizer.add_param_group({"params": list(early.parameters()), "lr": 0.01})
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(late(early(x)), y).backward()
            optimizer.step()
        return [p.detach() for p in [*early.parameters(), *late.parameters()]]

    for fused, loop in zip(trained(True), trained(False)):
        assert torch.allclose(fused, loop, rtol=1e-5, atol=1e-6)
