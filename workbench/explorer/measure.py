"""The backbone explorer: every backbone's size, cost and published accuracy, and its speed on this machine.

A pre-trained network may be too large or too slow for the device it must run on. The static
facts (parameters, stages, forward FLOPs, file size, ImageNet top-1) need no weights; latency and
training throughput are measured here with random weights, since timing does not depend on the
values. The CLI (`workbench backbones --measure`), the dashboard tab and `BackboneExplorer` all
read this module and show its rows with the same table and chart (`workbench.explorer.plots`).
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterable, Iterator

import torch

from workbench.core.errors import ConfigError
from workbench.models.backbones import TorchvisionWeights, get_backbone, list_backbones
from workbench.models.weights.status import WeightsFile, weights_file
from workbench.spec.options import option
from workbench.training.build import resolve_device
from workbench.training.cost import count_flops
from workbench.training.optim import make_optimizer
from workbench.training.step import TrainStep, autocast

# FP32 ImageNet top-1 of the TensorFlow checkpoints these weights were converted from, as their authors
# publish it: github.com/tensorflow/tpu, models/official/efficientnet/lite/README.md. The pip packages
# carry no accuracy of their own.
LITE_TOP1 = {"efficientnet_lite0": 75.1, "efficientnet_lite1": 76.7, "efficientnet_lite2": 77.6}
LITE_TOP1_SOURCE = "EfficientNet-Lite authors' table (tensorflow/tpu, efficientnet/lite/README.md)"

# Few iterations, so that all twelve backbones measure in well under a minute at 64 px on 2 cores.
WARMUP = 1  # forward passes / training steps run before timing (allocations, kernel selection)
LATENCY_RUNS = 5  # batch-1 forward passes timed; the median is reported
TRAIN_STEPS = 2  # full fine-tuning steps timed
TRAIN_BATCH = 8


def check_image_size(image_size: int, names: Iterable[str]) -> None:
    """One line if ``image_size`` is too small (or large) for any of ``names``."""
    for name in names:
        option("image_size").check(image_size, name)


def imagenet_top1(name: str) -> tuple[float | None, str]:
    """(ImageNet-1k top-1 in percent as published with the weights, where that figure comes from)."""
    source = get_backbone(name).weights
    if isinstance(source, TorchvisionWeights):
        return source.weights.meta["_metrics"]["ImageNet-1K"]["acc@1"], "torchvision weights metadata"
    if name in LITE_TOP1:
        return LITE_TOP1[name], LITE_TOP1_SOURCE
    return None, "not published"


def file_size(file: WeightsFile) -> tuple[int, str]:
    """(bytes of the model file, how they were found): the file here, the published download size, or an estimate."""
    if file.size is not None:
        return file.size, "file"
    if file.download_mb is not None:
        return int(file.download_mb * 2**20), "download"  # torchvision's _file_size is in MiB
    return get_backbone(file.backbone).total_params() * 4, "params x 4 bytes"


@lru_cache(maxsize=256)
def forward_flops(name: str, image_size: int) -> int:
    """FLOPs of one image's forward pass with the ImageNet head, counted on the meta device (no memory, no weights)."""
    with torch.device("meta"):
        model = get_backbone(name).build(pretrained=False, num_classes=None).eval()
        image = torch.empty(1, 3, image_size, image_size)
    return count_flops(lambda: model(image))


def describe_backbone(name: str, image_size: int) -> dict:
    """What is known about ``name`` at ``image_size`` without weights or timing."""
    backbone = get_backbone(name)
    file = weights_file(name)
    size, size_source = file_size(file)
    top1, top1_source = imagenet_top1(name)
    return {"name": name, "description": backbone.description, "image_size": image_size,
            "native_size": backbone.image_size, "params": backbone.total_params(),
            "stages": backbone.stage_names(), "forward_flops": forward_flops(name, image_size),
            "file_bytes": size, "file_size_source": size_source, "top1": top1, "top1_source": top1_source,
            "weights": file.state, "how_to_get": file.how_to_get}


def describe_backbones(image_size: int, names: Iterable[str] | None = None) -> list[dict]:
    """Static facts of every backbone (or ``names``) at ``image_size``, in registry order."""
    names = list(names or list_backbones())
    check_image_size(image_size, names)
    return [describe_backbone(name, image_size) for name in names]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _latency_ms(model, image: torch.Tensor, device: torch.device) -> float:
    model.eval()
    times = []
    with torch.inference_mode(), autocast(device):
        for run in range(WARMUP + LATENCY_RUNS):
            start = time.perf_counter()
            model(image)
            _sync(device)
            if run >= WARMUP:
                times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _train_images_per_s(model, images: torch.Tensor, device: torch.device) -> float:
    """Full fine-tuning (every stage trainable), the step a run takes."""
    model.train()
    optimizer = make_optimizer([{"params": list(model.parameters()), "lr": 1e-4}], "adamw", 1e-4, 1e-4, 0.9)
    step = TrainStep(model, optimizer, device)
    labels = torch.zeros(len(images), dtype=torch.long, device=device)
    for _ in range(WARMUP):
        step(images, labels)
    _sync(device)
    start = time.perf_counter()
    for _ in range(TRAIN_STEPS):
        step(images, labels)
    _sync(device)
    return TRAIN_STEPS * len(images) / (time.perf_counter() - start)


_MEASURED: dict[tuple, dict] = {}


def _load() -> float | None:
    """The 1-minute load average: processes wanting a core, this one's threads included (None off Unix)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def busy_machine(rows: list[dict]) -> str | None:
    """A warning when other work competed for the cores during measuring, as on a shared machine.

    More runnable threads than cores, beyond the measurement's own, slows every thread; with
    several torch threads each waits for the slowest at every operator, and timings can grow 10x.
    """
    loads = [row["load"] for row in rows if row.get("load") is not None]
    cores = os.cpu_count() or 1
    if loads and max(loads) > cores + 1:
        return (f"the machine was busy while measuring (load average up to {max(loads):.1f} on {cores} cores): "
                f"these timings are slower than this machine's when idle")
    return None


def _key(name: str, image_size: int, device: str, threads: int | None) -> tuple:
    return name, image_size, str(resolve_device(device)), threads or torch.get_num_threads()


def cached_measurement(name: str, image_size: int, device: str = "auto", threads: int | None = None) -> dict | None:
    """What `measure_backbone` found earlier in this process, or None."""
    return _MEASURED.get(_key(name, image_size, device, threads))


@contextmanager
def _threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure_backbone(name: str, image_size: int, device: str = "auto", threads: int | None = None) -> dict:
    """Latency per image (batch 1) and training throughput of ``name`` at ``image_size`` on this machine.

    Random weights, the run's memory layout (channels-last) and torch's thread count as a run uses it
    (``threads`` overrides it: a smaller target device); cached per (backbone, size, device, threads)
    for the life of the process.
    """
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    key = _key(name, image_size, device, threads)
    if key not in _MEASURED:
        check_image_size(image_size, [name])
        load = _load()
        target = resolve_device(device)
        with _threads(key[3]):
            model = get_backbone(name).build(pretrained=False, num_classes=None).to(target)
            model = model.to(memory_format=torch.channels_last)
            images = torch.randn(TRAIN_BATCH, 3, image_size, image_size, device=target)
            images = images.contiguous(memory_format=torch.channels_last)
            latency, throughput = _latency_ms(model, images[:1], target), _train_images_per_s(model, images, target)
        _MEASURED[key] = {"name": name, "image_size": image_size, "latency_ms": latency, "train_img_s": throughput,
                          "device": str(target), "threads": key[3], "latency_runs": LATENCY_RUNS,
                          "train_steps": TRAIN_STEPS, "train_batch": TRAIN_BATCH, "load": load}
    return dict(_MEASURED[key])


def measure_backbones(image_size: int, names: Iterable[str] | None = None, device: str = "auto",
                      threads: int | None = None) -> Iterator[dict]:
    """Measure each backbone in turn, yielding each result as it comes (for a progress bar)."""
    names = list(names or list_backbones())
    check_image_size(image_size, names)
    for name in names:
        yield measure_backbone(name, image_size, device, threads)


def explorer_rows(image_size: int, names: Iterable[str] | None = None, device: str = "auto",
                  threads: int | None = None) -> list[dict]:
    """The static facts with whatever has been measured at this size merged in (None where not yet)."""
    rows = describe_backbones(image_size, names)
    for row in rows:
        measured = cached_measurement(row["name"], image_size, device, threads) or {}
        row.update({key: measured.get(key) for key in ("latency_ms", "train_img_s", "threads", "device", "load")})
    return rows
