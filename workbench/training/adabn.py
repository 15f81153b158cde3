"""AdaBN (Li et al. 2016): the frozen stages' BatchNorm statistics re-estimated on the target images.

A frozen ImageNet stage normalises with ImageNet's means and variances. When the target images
look different (grey digits, clothes on black), those statistics are off, and every later layer
sees shifted inputs. AdaBN keeps every learned weight and replaces only the statistics, measured
once on the target's training images without their labels. The stages stay a fixed function
afterwards, so their outputs can still be cached.
"""

from __future__ import annotations

import torch
from torch import nn

from workbench.data.batches import Batches
from workbench.models.backbones import StagedNet

ADAPT_BATCH = 64


def batchnorm_layers(modules: list[nn.Module]) -> list[nn.modules.batchnorm._BatchNorm]:
    return [layer for module in modules for layer in module.modules()
            if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.track_running_stats]


def adapt_frozen_batchnorm(model: StagedNet, images: Batches) -> int:
    """Re-estimate the running mean and variance of every BatchNorm in the frozen stages from ``images``;
    return how many layers changed. The mean is exact over all images; the variance is the images'
    within-batch variance, averaged (as `torch.optim.swa_utils.update_bn` does, but weighted by batch size)."""
    depth = model.freeze_depth
    layers = batchnorm_layers(model.stage_list()[:depth])
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        nn.Module.train(layer, True)  # past the eval pin of a frozen stage, for these layers only
    try:
        seen = 0
        with torch.no_grad():
            for index in images.in_order(ADAPT_BATCH):
                seen += len(index)
                for layer in layers:  # each batch weighs as many images as it holds
                    layer.momentum = len(index) / seen
                model.features(images.get(index)[0], 0, depth)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
            nn.Module.train(layer, False)
    return len(layers)
