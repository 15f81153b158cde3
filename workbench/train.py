"""One training run, top to bottom: build, freeze, then for each epoch shuffle, step, validate, record.

Cost is measured where the work happens: each step's wall time, the FLOPs of a training step
(counted by ``torch.utils.flop_counter`` on the real step, again whenever the set of frozen
stages changes), and the run's peak memory. After every epoch the record is saved, so a crash
or a Ctrl-C keeps every finished epoch.
"""

from __future__ import annotations

import math
import platform
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workbench.augment import random_resized_crop_flip
from workbench.backbones import StagedNet, get_backbone
from workbench.config import RunConfig
from workbench.cost import MemoryMeter, count_flops
from workbench.data import DataBundle, load_data
from workbench.errors import ConfigError, ResourceError, RunStoreError, WorkbenchError
from workbench.feature_cache import Features, cache_blocker, compute_features, too_large
from workbench.freezing import count_params, frozen_depth_at, param_groups, set_freeze_depth, unfreeze_stage
from workbench.optim import current_lrs, lr_factor, make_optimizer, set_lr_factor
from workbench.records import EpochRecord, RunRecord
from workbench.runs import RunStore, new_id, now_iso

EVAL_BATCH = 256


class StopRequested(Exception):
    """Raised inside the loop when a UI asks the run to stop; the run is saved as interrupted."""


class Hooks:
    """What a UI can listen to; every method is optional and cheap."""

    def on_start(self, record: RunRecord, steps_per_epoch: int) -> None: ...

    def on_step(self, record: RunRecord, epoch: int, step: int, loss: float) -> None: ...

    def on_epoch(self, record: RunRecord) -> None: ...

    def on_end(self, record: RunRecord) -> None: ...

    def should_stop(self) -> bool:
        return False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return torch.device(name)


@dataclass
class Batches:
    """A split's images kept in memory as uint8; batches are slices turned into normalised floats."""

    images: torch.Tensor
    labels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    device: torch.device
    channels_last: bool = False

    start = 0  # images enter the network at its first stage

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, index: torch.Tensor, augment: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index].to(self.device, non_blocking=True).float().div_(255)
        if augment is not None:
            x = random_resized_crop_flip(x, augment)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.labels[index].to(self.device)


def autocast(device: torch.device, cpu_bf16: bool = False):
    """Mixed precision on CUDA (bf16 where supported); on the CPU only if asked for."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if cpu_bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


def evaluate(model: StagedNet, data: Batches | Features, cpu_bf16: bool = False) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and the predicted class of every image."""
    model.eval()
    total_loss, predictions = 0.0, []
    with torch.inference_mode(), autocast(data.device, cpu_bf16):
        for index in torch.arange(len(data)).split(EVAL_BATCH):
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


def load_learned_stages(model: StagedNet, store: RunStore, run_id: str, backbone: str) -> None:
    """Give ``model`` the stages another run learned (its head stays new): transfer from your own source."""
    source = store.load(run_id)
    if source.config.get("backbone") != backbone:
        raise ConfigError(f"run {run_id} trained {source.config.get('backbone')}, not {backbone}; "
                          f"use --backbone {source.config.get('backbone')}")
    stages = {k: v for k, v in store.load_checkpoint(run_id).items() if k.startswith("stages.")}
    try:
        missing, unexpected = model.load_state_dict(stages, strict=False)
    except RuntimeError as exc:
        raise RunStoreError(f"the checkpoint of run {run_id} does not fit {backbone}") from exc
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise RunStoreError(f"the checkpoint of run {run_id} does not hold every stage of {backbone}")


def build_model(config: RunConfig, num_classes: int, device: torch.device, store: RunStore | None = None) -> StagedNet:
    """The network as ``config`` asks: weights, frozen stages, memory layout, compilation."""
    torch.manual_seed(config.seed)
    backbone = get_backbone(config.backbone)
    if config.init_run:
        model = backbone.build(pretrained=False, num_classes=num_classes)
        load_learned_stages(model, store or RunStore(), config.init_run, config.backbone)
    else:
        model = backbone.build(config.pretrained, num_classes)
    model = model.to(device)
    set_freeze_depth(model, config.freeze_depth, config.bn_policy)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.compile:
        for stage in model.stage_list():
            stage.forward = torch.compile(stage.forward)
    return model


def split_batches(config: RunConfig, data: DataBundle, device: torch.device) -> dict[str, Batches]:
    """Each split's in-memory images, normalised with the backbone's own mean and std."""
    backbone = get_backbone(config.backbone)
    mean = torch.tensor(backbone.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(backbone.std, device=device).view(1, 3, 1, 1)
    return {s: Batches(data.images[s], data.labels[s], mean, std, device, config.channels_last)
            for s in ("train", "val", "test")}


def _environment(device: torch.device, config: RunConfig) -> dict:
    """What the run ran on and which speed features it used."""
    return {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "channels_last": config.channels_last,
            "mixed_precision": "cuda-amp" if device.type == "cuda" else ("cpu-bf16" if config.cpu_bf16 else "off"),
            "compiled": config.compile, "frozen_stages_without_autograd": True}


def _note_cache(record: RunRecord, epoch: int, blocker: str | None, depth: int) -> None:
    """Say in the record, once per change, whether the frozen prefix is cached and why not."""
    note = f"epoch {epoch}: " + (f"frozen stages 1-{depth} cached" if blocker is None else f"no feature cache: {blocker}")
    previous = next((n for n in reversed(record.speed_notes) if n.startswith("epoch ")), None)
    if previous is None or previous.split(": ", 1)[1] != note.split(": ", 1)[1]:
        record.speed_notes.append(note)


def train_run(config: RunConfig, store: RunStore | None = None, *, data: DataBundle | None = None,
              role: str = "single", comparison_id: str | None = None, hooks: Hooks | None = None,
              save_checkpoint: bool = False) -> RunRecord:
    """Train one model as ``config`` says and return its record (also saved in ``store``).

    ``save_checkpoint`` also keeps the trained weights in the run folder.
    """
    config.validate()
    hooks = hooks or Hooks()
    store = store or RunStore()
    device = resolve_device(config.device)
    if data is None:
        data = load_data(config.dataset, config.image_size, config.split_seed, config.train_per_class,
                         config.max_eval_per_class, config.data_dir)
    model = build_model(config, data.num_classes, device, store)
    optimizer = make_optimizer(param_groups(model, config.lr, config.lr_backbone_mult, config.layer_decay),
                               config.optimizer, config.lr, config.weight_decay, config.momentum)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported())

    splits = split_batches(config, data, device)
    train = splits["train"]
    steps_per_epoch = max(1, math.ceil(len(train) / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    shuffle = torch.Generator().manual_seed(config.seed)
    augment = torch.Generator().manual_seed(config.seed + 1) if config.augment else None

    record = RunRecord(
        run_id=new_id(f"{role[0]}-" if role != "single" else "r-"), config=config.to_dict(), role=role,
        comparison_id=comparison_id, created=now_iso(), classes=list(data.classes),
        data_sizes={s: len(b) for s, b in splits.items()}, data_notes=list(data.notes),
        environment=_environment(device, config),
    )
    store.save(record)
    hooks.on_start(record, steps_per_epoch)
    meter = MemoryMeter(device)
    meter.reset()

    def train_step(x: torch.Tensor, y: torch.Tensor, start: int) -> tuple[float, int]:
        with autocast(device, config.cpu_bf16):
            logits = model.head(model.features(x, start))
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.item(), int((logits.argmax(1) == y).sum())

    step_count, images_seen, total_flops, cum_s = 0, 0, 0, 0.0
    flops_per_image: float | None = None
    cached: dict[str, Features] = {}
    try:
        for epoch in range(config.epochs):
            # Gradual unfreezing: thaw stages from the top down on schedule, each with a new optimizer group.
            while model.no_grad_prefix > frozen_depth_at(epoch, config.freeze_depth, config.unfreeze_every):
                unfreeze_stage(model, optimizer, config.lr, config.lr_backbone_mult, config.layer_decay)
                flops_per_image = None
            started = time.perf_counter()
            epoch_flops = 0
            depth = model.no_grad_prefix
            blocker = cache_blocker(model, config.cache_features, config.bn_policy, config.augment)
            if blocker is None and (not cached or cached["train"].start != depth):
                blocker = too_large(model, train, depth)
                if blocker is None:
                    # The frozen prefix runs once per image here, instead of once per image per epoch.
                    epoch_flops += count_flops(lambda: cached.update(train=compute_features(model, train, depth)))
                    cached.update({s: compute_features(model, splits[s], depth) for s in ("val", "test")})
                    flops_per_image = None
            if blocker is not None:
                cached.clear()
            _note_cache(record, epoch + 1, blocker, depth)
            inputs = cached if cached else splits
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            batches = torch.randperm(len(train), generator=shuffle).split(config.batch_size)
            if len(batches) > 1 and len(batches[-1]) == 1:
                batches = batches[:-1]  # BatchNorm cannot train on a batch of one image
            for step, index in enumerate(batches):
                if hooks.should_stop():
                    raise StopRequested
                x, y = inputs["train"].get(index, augment)
                start = inputs["train"].start
                set_lr_factor(optimizer, lr_factor(config.schedule, step_count, total_steps))
                if flops_per_image is None:
                    result: list = []
                    flops_per_image = count_flops(lambda: result.append(train_step(x, y, start))) / len(y)
                    loss, hits = result[0]
                else:
                    loss, hits = train_step(x, y, start)
                step_count += 1
                loss_sum += loss * len(y)
                correct += hits
                seen += len(y)
                epoch_flops += int(flops_per_image * len(y))
                hooks.on_step(record, epoch + 1, step + 1, loss)
            train_s = time.perf_counter() - started
            val_loss, val_acc, _ = evaluate(model, inputs["val"], config.cpu_bf16)
            epoch_s = time.perf_counter() - started
            cum_s += epoch_s
            images_seen += seen
            total_flops += epoch_flops
            record.epochs.append(EpochRecord(
                epoch=epoch + 1, train_loss=loss_sum / seen, train_acc=correct / seen,
                val_loss=val_loss, val_acc=val_acc, lrs=current_lrs(optimizer), epoch_s=epoch_s, cum_s=cum_s,
                images_seen=images_seen, epoch_flops=epoch_flops, train_flops=total_flops,
                trainable_params=count_params(model, trainable_only=True), total_params=count_params(model),
                frozen_stages=model.no_grad_prefix, cached_stages=inputs["train"].start, peak_mem_bytes=meter.peak_bytes(),
                throughput=seen / train_s if train_s > 0 else 0.0,
            ))
            store.save(record)
            hooks.on_epoch(record)
        _, test_acc, predicted = evaluate(model, (cached or splits)["test"], config.cpu_bf16)
        confusion = confusion_matrix(splits["test"].labels, predicted, data.num_classes)
        record.test_acc = test_acc
        record.confusion = confusion.tolist()
        totals = confusion.sum(1).clamp(min=1)
        record.per_class_acc = (confusion.diag() / totals).tolist()
        if save_checkpoint:
            store.save_checkpoint(record.run_id, model.state_dict())
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
    return record


def restore_model(store: RunStore, run_id: str, device: str = "cpu") -> StagedNet:
    """The trained network of a run saved with a checkpoint, ready for inference."""
    record = store.load(run_id)
    config = RunConfig.from_dict(record.config)
    model = get_backbone(config.backbone).build(pretrained=False, num_classes=len(record.classes))
    state = store.load_checkpoint(run_id)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise RunStoreError(
            f"the checkpoint of run {run_id} does not fit {config.backbone} with {len(record.classes)} classes "
            f"({first[:120]}); it belongs to another architecture or class count"
        ) from None
    return model.to(resolve_device(device)).eval()
