"""How long one run takes here, before it trains: its FLOPs (counted on the real network) divided by this
machine's measured rate for its backbone, image size, batch size and threads (`training.calibrate`; its training
steps and evaluation faster by what the precision calibration measured where the run will train in bf16), plus
the decoding of its images. What `experiments.estimate` adds up for a plan, and `experiments.pairs` weighs to
choose between training a comparison's two runs at once or in turn.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from workbench.core.errors import WorkbenchError
from workbench.data.loading import dataset_identity, split_sizes
from workbench.data.splits import TooFewImages
from workbench.models.backbones import get_backbone
from workbench.models.freezing import frozen_depth_at
from workbench.spec.config import RunConfig
from workbench.training.calibrate import cached_rate, calibration, flop_profile, step_flops
from workbench.training.precision import bf16_speedup

DECODE_SAMPLE = 16
GUESSED_CLASSES = 10
GUESSED_TRAIN_PER_CLASS = 500


@dataclass(frozen=True)
class DataCost:
    """What a run's data costs: its split sizes, its classes, the seconds to decode it all."""

    sizes: tuple[int, int, int]  # train, val, test
    classes: int
    decode_s: float  # seconds to decode every image of the three splits
    guessed: bool = False


_KEPT: dict[tuple, DataCost] = {}


def data_cost(config: RunConfig) -> DataCost:
    """Split sizes from the labels alone, and decoding timed on a few real images (kept in this process)."""
    key = data_key(config)
    if key not in _KEPT:
        _KEPT[key] = _measure(config)
    return _KEPT[key]


def _measure(config: RunConfig) -> DataCost:
    try:
        sizes, classes, source = split_sizes(config)
    except TooFewImages:
        raise  # these settings cannot run: no guess
    except WorkbenchError:  # not here, or only readable by downloading: a guess, said as one
        classes = GUESSED_CLASSES
        train = classes * (config.train_per_class or GUESSED_TRAIN_PER_CLASS)
        evaluated = classes * (config.max_eval_per_class or GUESSED_TRAIN_PER_CLASS // 4)
        return DataCost((train, evaluated, evaluated), classes, 0.002 * (train + 2 * evaluated), guessed=True)
    import numpy as np

    total = sum(sizes.values())
    sample = np.arange(min(DECODE_SAMPLE, len(source.labels)))
    started = time.perf_counter()
    source.load(sample, config.image_size)
    per_image = (time.perf_counter() - started) / max(len(sample), 1)
    return DataCost((sizes["train"], sizes["val"], sizes["test"]), classes, per_image * total)


def run_seconds(config: RunConfig, threads: int | None = None, measure: bool = True) -> tuple[float, float] | None:
    """(seconds, FLOPs) of training and testing ``config`` once, its data already decoded (``measure`` False:
    only from a kept calibration, else None)."""
    data = data_cost(config)  # first: data that cannot train is said before any measuring
    rate = (calibration if measure else cached_rate)(config.backbone, config.image_size, config.batch_size, threads)
    if rate is None:
        return None
    n_train, n_val, n_test = data.sizes
    stages = get_backbone(config.backbone).num_stages
    profile = flop_profile(config.backbone, config.image_size, data.classes)
    steps = max(1, math.ceil(n_train / config.batch_size))
    speedup = bf16_speedup(config, n_train, measure)  # the rates are fp32's; bf16 autocast trains and evaluates
    train_flops_s, eval_flops_s = rate.train_flops_s * speedup, rate.eval_flops_s * speedup  # (not the cache)
    seconds, flops, depth, start = rate.build_s + rate.warmup_s, 0.0, None, 0
    if config.bn_policy == "adapt" and config.freeze_depth:  # AdaBN: the frozen stages once over the training images
        flops += n_train * profile.prefix(config.freeze_depth)
        seconds += n_train * profile.prefix(config.freeze_depth) / rate.eval_flops_s
    for epoch in range(config.epochs):
        now = frozen_depth_at(epoch, config.freeze_depth, config.unfreeze_every)
        cached = (config.cache_features and now > 0 and config.bn_policy != "train" and not config.augment
                  and now <= stages)
        per_image = step_flops(config.backbone, config.image_size, data.classes, now, now if cached else 0)
        step_s = rate.step_s + config.batch_size * per_image / train_flops_s
        if now != depth:  # what a step runs changed: the cache is built again, the first step is counted
            depth, start = now, now if cached else 0
            if cached:
                prefix = (n_train + n_val + n_test) * profile.prefix(now)
                flops += n_train * profile.prefix(now)
                seconds += prefix / rate.eval_flops_s
            seconds += step_s  # the counted step runs under the FLOP counter: about one step more
        flops += n_train * per_image
        seconds += steps * rate.step_s + n_train * per_image / train_flops_s
        seconds += n_val * profile.forward_from(start) / eval_flops_s  # timed at its batch: calls included
    seconds += n_test * profile.forward_from(start) / eval_flops_s
    return seconds, flops


def data_key(config: RunConfig) -> tuple:
    """What decides a comparison's decoded images (`data.loading.load_data` keeps them by it)."""
    return (dataset_identity(config.dataset), config.image_size, config.split_seed, config.train_per_class,
            config.max_eval_per_class, config.data_dir, config.block_shuffle)
