import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench.core.errors import ConfigError
from workbench.data.batches import Batches
from workbench.models.backbones import get_backbone
from workbench.models.freezing import (
    count_params,
    frozen_depth_at,
    is_pinned,
    param_groups,
    set_freeze_depth,
    unfreeze_stage,
)
from workbench.spec.config import RunConfig
from workbench.training.adabn import adapt_frozen_batchnorm
from workbench.training.optim import make_optimizer


def _model(name="resnet18", classes=5):
    torch.manual_seed(0)
    return get_backbone(name).build(pretrained=False, num_classes=classes)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0", "mobilenet_v3_small"])
def test_trainable_parameters_are_exactly_the_unfrozen_stages_and_head(name):
    backbone = get_backbone(name)
    counts = list(backbone.stage_param_counts().values())
    head = 5 * _model(name).head.in_features + 5
    for depth in range(len(counts) + 1):
        model = _model(name)
        set_freeze_depth(model, depth)
        assert count_params(model, trainable_only=True) == sum(counts[depth:]) + head
        assert count_params(model) == sum(counts) + head
        assert model.freeze_depth == depth


def test_linear_probe_trains_only_the_head():
    model = _model()
    set_freeze_depth(model, 5)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}


def test_freeze_depth_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="use 0..5"):
        RunConfig(backbone="resnet18", freeze_depth=6).validate()


def _bns(module):
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def test_frozen_batchnorm_stays_in_eval_and_keeps_its_statistics_after_train():
    model = _model()
    set_freeze_depth(model, 3, bn_policy="frozen")
    model.train()
    frozen = _bns(model.stage_list()[0])
    trainable = _bns(model.stage_list()[4])
    assert all(not bn.training for bn in frozen) and is_pinned(model.stage_list()[0])
    assert all(bn.training for bn in trainable)
    before = frozen[0].running_mean.clone()
    F.cross_entropy(model(torch.randn(4, 3, 32, 32) * 3 + 1), torch.tensor([0, 1, 2, 3])).backward()
    assert torch.equal(frozen[0].running_mean, before)
    assert frozen[0].weight.grad is None


def test_bn_policy_train_lets_frozen_batchnorm_re_estimate_statistics():
    model = _model()
    set_freeze_depth(model, 3, bn_policy="train")
    model.train()
    frozen = _bns(model.stage_list()[0])[0]
    before = frozen.running_mean.clone()
    model(torch.randn(4, 3, 32, 32) * 3 + 1)
    assert frozen.training and not torch.equal(frozen.running_mean, before)
    assert not frozen.weight.requires_grad


def test_bn_policy_adapt_measures_the_frozen_statistics_once_on_the_target_images():
    model = _model()
    set_freeze_depth(model, 3, bn_policy="adapt")
    first, deeper = _bns(model.stage_list()[0])[0], _bns(model.stage_list()[4])[0]
    seen = []  # what the first BatchNorm is fed during adaptation, batch by batch
    first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    deeper_before = deeper.running_mean.clone()
    images = Batches(torch.randn(70, 3, 32, 32) * 2 + 3, torch.zeros(70, dtype=torch.long), torch.device("cpu"))
    assert adapt_frozen_batchnorm(model, images) == len(_bns(nn.ModuleList(model.stage_list()[:3])))
    assert [len(x) for x in seen] == [64, 6]  # every image once, in batches
    inputs = torch.cat(seen)
    assert torch.allclose(first.running_mean, inputs.mean(dim=(0, 2, 3)), atol=1e-5)  # exact
    assert torch.allclose(first.running_var, inputs.var(dim=(0, 2, 3)), rtol=0.02)  # within-batch, averaged
    assert torch.equal(deeper.running_mean, deeper_before)  # a trainable stage learns its own
    model.train()
    assert not first.training and is_pinned(model.stage_list()[0]) and first.momentum == 0.1
    adapted = first.running_mean.clone()
    model(torch.randn(4, 3, 32, 32))
    assert torch.equal(first.running_mean, adapted)  # then it stays fixed, like bn_policy="frozen"


def test_adapt_runs_end_to_end_and_says_so_in_the_record(tmp_path):
    from workbench.store.runs import RunStore
    from workbench.training.train import train_run

    config = RunConfig(dataset="digits:0-2", train_per_class=4, image_size=32, epochs=1, freeze_depth=6,
                       bn_policy="adapt")
    record = train_run(config, RunStore(tmp_path))
    assert record.status == "completed" and any("AdaBN" in note for note in record.speed_notes)
    assert record.epochs[0].features_cached  # still a fixed function: the frozen stages are cached


def test_refreezing_shallower_releases_the_pinned_batchnorm():
    model = _model()
    set_freeze_depth(model, 5)
    set_freeze_depth(model, 0)
    model.train()
    assert all(bn.training for bn in _bns(model))
    assert not any(is_pinned(m) for m in model.modules())


def test_discriminative_learning_rates_decay_towards_the_input():
    model = _model()
    set_freeze_depth(model, 2)
    groups = param_groups(model, lr=1e-2, backbone_mult=0.5, layer_decay=0.1)
    assert [g["name"] for g in groups] == ["layer2", "layer3", "layer4", "head"]
    assert [g["lr"] for g in groups] == pytest.approx([5e-5, 5e-4, 5e-3, 1e-2])
    frozen = {id(p) for s in model.stage_list()[:2] for p in s.parameters()}
    assert not frozen & {id(p) for g in groups for p in g["params"]}


def test_gradual_unfreezing_adds_the_next_stage_as_a_new_group():
    model = _model()
    set_freeze_depth(model, 5)
    optimizer = make_optimizer(param_groups(model, 1e-2, 0.1), "sgd", 1e-2, 0.0, 0.9)
    assert unfreeze_stage(model, optimizer, 1e-2, 0.1) == "layer4"
    assert [g["name"] for g in optimizer.param_groups] == ["head", "layer4"]
    assert optimizer.param_groups[1]["lr"] == pytest.approx(1e-3)
    assert model.freeze_depth == 4
    assert all(p.requires_grad for p in model.stages["layer4"].parameters())
    assert not any(p.requires_grad for p in model.stages["layer3"].parameters())


def test_unfreeze_schedule():
    assert [frozen_depth_at(e, 4, 2) for e in range(10)] == [4, 4, 3, 3, 2, 2, 1, 1, 0, 0]
    assert frozen_depth_at(7, 3, 0) == 3
