import os
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench.models.backbones import get_backbone
from workbench.models.freezing import set_freeze_depth
from workbench.training.cost import FlopMeter, MemoryMeter, count_flops


def _step_flops(name, depth):
    torch.manual_seed(0)
    model = get_backbone(name).build(pretrained=False, num_classes=4).train()
    set_freeze_depth(model, depth)
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    forward = count_flops(lambda: model(x))
    train = count_flops(lambda: F.cross_entropy(model(x), y).backward())
    return forward, train


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_full_fine_tune_costs_about_three_forward_passes(name):
    forward, train = _step_flops(name, 0)
    assert 2.8 < train / forward < 3.01


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_frozen_backbone_costs_one_forward_pass_and_the_head(name):
    forward, train = _step_flops(name, get_backbone(name).num_stages)
    assert 1.0 < train / forward < 1.01


def test_frozen_prefix_has_no_backward_flops():
    forward, half = _step_flops("resnet18", 3)
    _, full = _step_flops("resnet18", 0)
    assert forward < half < full


def test_depthwise_convolution_backward_is_counted_with_its_groups():
    conv = nn.Conv2d(64, 64, 3, padding=1, groups=64)
    x = torch.randn(2, 64, 16, 16, requires_grad=True)
    forward = count_flops(lambda: conv(x))
    assert forward == 2 * 2 * 64 * 16 * 16 * 9
    assert count_flops(lambda: conv(x).sum().backward()) == 3 * forward


def test_peak_memory_sees_a_large_allocation():
    meter = MemoryMeter(torch.device("cpu"))
    meter.reset()
    before = meter.peak_bytes()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    assert meter.peak_bytes() >= before + 60 * 2**20
    del block


def test_a_step_is_counted_once_per_setup_then_charged_per_image():
    conv = nn.Conv2d(3, 8, 3)
    x = torch.randn(4, 3, 8, 8)
    meter = FlopMeter()
    with meter.step(4, setup=("depth", 0)):
        conv(x)
    first = meter.total
    assert first == count_flops(lambda: conv(x)) > 0
    with meter.step(2, setup=("depth", 0)):
        pass  # nothing counted here: charged at the measured cost per image
    assert meter.total == first + first // 2
    with meter.step(4, setup=("depth", 1)):  # what a step runs changed: counted for real again
        conv(x[:1])
    assert meter.total == first + first // 2 + first // 4
    with meter.count():
        conv(x)
    assert meter.total == 2 * first + first // 2 + first // 4


def test_the_cpu_meter_sees_other_programs_competing():
    import subprocess
    import sys

    from workbench.training.cost import CpuMeter

    meter = CpuMeter()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(1.5)
    finally:
        for hog in hogs:
            hog.kill()
    own, others = meter.lap()
    assert own < 0.5 and others > 0.5  # the hogs, not this sleeping process, used the cores


def test_a_run_on_a_busy_machine_says_so_and_an_idle_share_does_not(tiny, store):
    from dataclasses import replace as copy

    from workbench.training.train import train_run

    record = train_run(tiny, store)
    assert all(e.cpu_s > 0 for e in record.epochs) and record.summary()["cpu_s"] > 0
    for share, busy in ((0.9, True), (0.05, False)):
        record.epochs = [copy(e, others_cpu_share=share) for e in record.epochs]
        note = record.summary()["machine_busy"]
        assert bool(note) is busy
        if busy:
            assert "compare FLOPs, not seconds" in note and "90%" in note
