"""One training run, top to bottom: build, freeze, then for each epoch shuffle, step, validate, record.

Cost is measured where the work happens: each step's wall time, the FLOPs of a training step
(counted by ``torch.utils.flop_counter`` on the real step, again whenever what a step runs
changes), and the run's peak memory. After every epoch the record is saved, so a crash or a
Ctrl-C keeps every finished epoch.
"""

from __future__ import annotations

import math
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Iterator

import torch
import torch.nn.functional as F

from workbench.core.errors import ResourceError, WorkbenchError
from workbench.core.records import EpochRecord, RunRecord
from workbench.data.batches import Batches, image_batches
from workbench.data.loading import load_data
from workbench.data.sources import SPLITS, DataBundle
from workbench.models.backbones import StagedNet, get_backbone
from workbench.models.freezing import count_params, frozen_depth_at, param_groups, unfreeze_to
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore, new_id, now_iso
from workbench.training.adabn import adapt_frozen_batchnorm
from workbench.training.build import build_model, resolve_device
from workbench.training.calibrate import inference_batch
from workbench.training.cost import CpuMeter, FlopMeter, MemoryMeter
from workbench.training.feature_cache import FeatureCache, cache_blocker
from workbench.training.hooks import Hooks
from workbench.training.optim import current_lrs, lr_factor, make_optimizer, set_lr_factor
from workbench.training.precision import Precision, choose_precision, precision_environment
from workbench.training.progress import default_hooks
from workbench.training.step import TrainStep, autocast


class StopRequested(Exception):
    """Raised inside the loop when a UI asks the run to stop; the run is saved as interrupted."""


def train_run(config: RunConfig, store: RunStore | None = None, *, data: DataBundle | None = None,
              role: str = "single", comparison_id: str | None = None, hooks: Hooks | None = None,
              save_checkpoint: bool = False) -> RunRecord:
    """Train one model as ``config`` says and return its record (also saved in ``store``); ``hooks`` hear its
    progress (none given: a line under the notebook cell, in a notebook, else silence).

    ``save_checkpoint`` also keeps the trained weights in the run folder.
    """
    config.validate()
    hooks, store, device = hooks or default_hooks(), store or RunStore(), resolve_device(config.device)
    if data is None:
        hooks.on_prepare("decoding images")
        data = load_data(config)
    hooks.on_prepare("building the network")
    model = build_model(config, data.num_classes, device, store)
    optimizer = make_optimizer(param_groups(model, config.lr, config.lr_backbone_mult, config.layer_decay),
                               config.optimizer, config.lr, config.weight_decay, config.momentum)
    precision = choose_precision(config, device, on_calibrate=lambda: hooks.on_prepare(
        "timing fp32 against bf16 on this CPU (once for these settings)"), train_images=data.size("train"))
    step = TrainStep(model, optimizer, device, precision.cpu_bf16)
    hooks.on_prepare("preparing the images for the network")
    images = split_batches(config, data, device)
    steps_per_epoch = max(1, math.ceil(len(images["train"]) / config.batch_size))
    shuffle = torch.Generator().manual_seed(config.seed)
    eval_batch = inference_batch(config.backbone, config.image_size, config.batch_size, device)
    cache = FeatureCache(config.cache_features, config.bn_policy, config.augment, eval_batch)
    flops, memory = FlopMeter(), MemoryMeter(device)
    record = _new_record(config, role, comparison_id, data, device, precision)
    store.save(record)
    hooks.on_start(record, steps_per_epoch)
    memory.reset()
    with _saved_whatever_happens(record, store, hooks, config):
        if config.bn_policy == "adapt":
            _adapt_batchnorm(record, model, images["train"], flops)
        prepared_depth = None
        for epoch in range(1, config.epochs + 1):
            unfreeze_to(model, frozen_depth_at(epoch - 1, config.freeze_depth, config.unfreeze_every), optimizer,
                        config.lr, config.lr_backbone_mult, config.layer_decay)
            tally = Tally(epoch, started=time.perf_counter(), flops_before=flops.total)
            if model.freeze_depth != prepared_depth:  # what a step runs changed: the cache and the FLOP count with it
                prepared_depth = model.freeze_depth
                hooks.on_prepare(f"epoch {epoch}: running the frozen stages once, to cache their output"
                                 if cache_blocker(model, cache.enabled, cache.bn_policy, cache.augment) is None
                                 else f"epoch {epoch}: first step, counting its FLOPs")
            inputs = cache.refresh(model, images, flops)
            _note_once(record, epoch, cache.note)
            train = inputs["train"]
            model.train()
            for index in train.shuffled(config.batch_size, shuffle):
                if hooks.should_stop():
                    raise StopRequested
                step_started = time.perf_counter()
                x, y = train.get(index, train=True)
                set_lr_factor(optimizer, lr_factor(config.schedule, step.count, steps_per_epoch * config.epochs))
                with flops.step(len(y), setup=(model.freeze_depth, train.start)):
                    loss, hits = step(x, y, train.start)
                tally.add(loss, hits, len(y), time.perf_counter() - step_started)
                hooks.on_step(record, epoch, tally.steps, loss)
            val_loss, val_acc, _ = evaluate(model, inputs["val"], eval_batch, precision.cpu_bf16)
            record.epochs.append(_epoch_record(record, tally, val_loss, val_acc, model, optimizer, flops, memory,
                                               features_cached=train.start > 0))
            store.save(record)
            hooks.on_epoch(record)
        _test(record, model, inputs["test"], data.num_classes, eval_batch, precision.cpu_bf16)
        if save_checkpoint:
            store.save_checkpoint(record.run_id, model.state_dict())
    return record


@dataclass
class Tally:
    """One epoch's training steps added up: loss, hits, images and the seconds the steps took."""

    epoch: int
    started: float  # perf_counter at the start of the epoch
    flops_before: int  # the run's FLOPs before the epoch
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    steps: int = 0
    cpu: CpuMeter = field(default_factory=CpuMeter)  # started with the epoch: CPU time, others' share

    def add(self, loss: float, hits: int, images: int, seconds: float) -> None:
        self.loss_sum += loss * images
        self.correct += hits
        self.seen += images
        self.seconds += seconds
        self.steps += 1


def _epoch_record(record: RunRecord, tally: Tally, val_loss: float, val_acc: float, model: StagedNet,
                  optimizer: torch.optim.Optimizer, flops: FlopMeter, memory: MemoryMeter,
                  features_cached: bool) -> EpochRecord:
    """The epoch's line in the record: how it learned, what it has cost so far, what was frozen."""
    previous = record.epochs[-1] if record.epochs else None
    epoch_s = time.perf_counter() - tally.started
    cpu_s, others_cpu_share = tally.cpu.lap()
    return EpochRecord(
        epoch=tally.epoch, train_loss=tally.loss_sum / tally.seen, train_acc=tally.correct / tally.seen,
        val_loss=val_loss, val_acc=val_acc, lrs=current_lrs(optimizer), epoch_s=epoch_s,
        cum_s=(previous.cum_s if previous else 0.0) + epoch_s,
        images_seen=(previous.images_seen if previous else 0) + tally.seen,
        epoch_flops=flops.total - tally.flops_before, train_flops=flops.total,
        trainable_params=count_params(model, trainable_only=True), total_params=count_params(model),
        freeze_depth=model.freeze_depth, features_cached=features_cached, peak_mem_bytes=memory.peak_bytes(),
        throughput=tally.seen / tally.seconds if tally.seconds > 0 else 0.0,
        cpu_s=cpu_s, others_cpu_share=others_cpu_share,
    )


def split_batches(config: RunConfig, data: DataBundle, device: torch.device) -> dict[str, Batches]:
    """Each split's in-memory images, fed through the backbone's preprocessing; training batches
    are augmented when ``config.augment`` asks for it."""
    preprocess = partial(get_backbone(config.backbone).preprocess, normalization=config.normalization)
    augment = torch.Generator().manual_seed(config.seed + 1) if config.augment else None
    return {s: image_batches(data.images[s], data.labels[s], device, preprocess, augment if s == "train" else None,
                             config.channels_last) for s in SPLITS}


def evaluate(model: StagedNet, data: Batches, batch: int, cpu_bf16: bool = False) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and the predicted class of every image, ``batch`` images at a time (all at once where
    only the head is left to run, on cached features: there the calls cost more than the arithmetic)."""
    model.eval()
    total_loss, predictions = 0.0, []
    batch = max(batch, len(data)) if data.start >= len(model.stages) else batch
    with torch.inference_mode(), autocast(data.device, cpu_bf16):
        for index in data.in_order(batch):
            x, y = data.get(index)
            logits = model.head(model.features(x, data.start)).float()
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            predictions.append(logits.argmax(1).cpu())
    predicted = torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.long)
    accuracy = (predicted == data.labels).float().mean().item() if len(data) else 0.0
    return total_loss / max(len(data), 1), accuracy, predicted


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    flat = labels * num_classes + predicted
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _test(record: RunRecord, model: StagedNet, test: Batches, num_classes: int, batch: int, cpu_bf16: bool) -> None:
    """Test accuracy, per-class accuracy and the confusion matrix, into the record."""
    _, record.test_acc, predicted = evaluate(model, test, batch, cpu_bf16)
    confusion = confusion_matrix(test.labels, predicted, num_classes)
    record.confusion = confusion.tolist()
    record.per_class_acc = (confusion.diag() / confusion.sum(1).clamp(min=1)).tolist()


def _new_record(config: RunConfig, role: str, comparison_id: str | None, data: DataBundle,
                device: torch.device, precision: Precision) -> RunRecord:
    """The record a run starts with: who it is, its data, and what it runs on with which speed features."""
    mixed = {"mixed": "cuda-amp", "bf16": "cpu-bf16"}.get(precision.name, "off")  # its name before `precision`
    environment = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                   "python": platform.python_version(), "channels_last": config.channels_last,
                   "mixed_precision": mixed, **precision_environment(precision, device), "compiled": config.compile,
                   "frozen_stages_without_autograd": True}
    return RunRecord(run_id=new_id(f"{role[0]}-" if role != "single" else "r-"), config=config.to_dict(), role=role,
                     comparison_id=comparison_id, created=now_iso(), classes=list(data.classes),
                     data_sizes={s: data.size(s) for s in SPLITS}, data_notes=list(data.notes),
                     environment=environment)


def _adapt_batchnorm(record: RunRecord, model: StagedNet, train: Batches, flops: FlopMeter) -> None:
    """AdaBN before the first step; the pass over the training images is training work (its FLOPs count)."""
    with flops.count():
        layers = adapt_frozen_batchnorm(model, train)
    record.speed_notes.append(f"BatchNorm statistics of {layers} layers in the frozen stages re-estimated "
                              f"on the {len(train)} training images (AdaBN)")


def _note_once(record: RunRecord, epoch: int, note: str) -> None:
    """Say in the record, once per change, how this epoch's inputs were made (cached or why not)."""
    previous = next((n for n in reversed(record.speed_notes) if n.startswith("epoch ")), None)
    if previous is None or previous.split(": ", 1)[1] != note:
        record.speed_notes.append(f"epoch {epoch}: {note}")


@contextmanager
def _saved_whatever_happens(record: RunRecord, store: RunStore, hooks: Hooks, config: RunConfig) -> Iterator[None]:
    """The record ends saved with its status: completed, interrupted (Ctrl-C, Stop) or failed with one line."""
    try:
        yield
        record.status = "completed"
    except (KeyboardInterrupt, StopRequested):
        record.status = "interrupted"
        raise
    except torch.cuda.OutOfMemoryError as exc:
        message = (f"out of GPU memory at batch size {config.batch_size} and image size {config.image_size}; "
                   f"try --batch-size {max(1, config.batch_size // 2)} or a smaller --image-size")
        record.status, record.error = "failed", message
        raise ResourceError(message) from exc
    except WorkbenchError as exc:
        record.status, record.error = "failed", str(exc)
        raise
    except Exception as exc:
        record.status, record.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        record.finished = now_iso()
        store.save(record)
        hooks.on_end(record)
