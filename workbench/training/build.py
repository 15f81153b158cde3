"""Building the network a run trains: on which device, from which weights, with which stages frozen.

`build_model` is what `train_run` starts from; `restore_model` gives back a trained network from its checkpoint
(the views inside the networks, predictions, export).
"""

from __future__ import annotations

import torch

from workbench.core.errors import ConfigError, RunStoreError
from workbench.models.backbones import StagedNet, get_backbone
from workbench.models.freezing import set_freeze_depth
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return torch.device(name)


def load_learned_stages(model: StagedNet, store: RunStore, run_id: str, backbone: str,
                        count: int | None = None) -> None:
    """Give ``model`` the stages another run learned (its head stays new): transfer from your own source.

    ``count`` copies only the first stages; the later ones keep their fresh initialisation (Yosinski
    et al.'s AnB: the first n layers of a network trained on task A, the rest trained anew on B).
    """
    source = store.load(run_id)
    trained = RunConfig.of(source).backbone
    if trained != backbone:
        raise ConfigError(f"run {run_id} trained {trained}, not {backbone}; use --backbone {trained}")
    copied = {f"stages.{name}." for name in list(model.stages)[:count]}
    stages = {k: v for k, v in store.load_checkpoint(run_id).items()
              if k.startswith("stages.") and (count is None or any(k.startswith(prefix) for prefix in copied))}
    try:
        missing, unexpected = model.load_state_dict(stages, strict=False)
    except RuntimeError as exc:
        raise RunStoreError(f"the checkpoint of run {run_id} does not fit {backbone}") from exc
    missing = [k for k in missing if count is None or any(k.startswith(prefix) for prefix in copied)]
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise RunStoreError(f"the checkpoint of run {run_id} does not hold every stage of {backbone}")


def build_model(config: RunConfig, num_classes: int, device: torch.device, store: RunStore | None = None) -> StagedNet:
    """The network as ``config`` asks: weights, frozen stages, memory layout, compilation."""
    torch.manual_seed(config.seed)
    backbone = get_backbone(config.backbone)
    if config.init_run:
        model = backbone.build(pretrained=False, num_classes=num_classes)
        load_learned_stages(model, store or RunStore(), config.init_run, config.backbone, config.init_stages)
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


def restore_model(store: RunStore, run_id: str, device: str = "cpu") -> StagedNet:
    """The trained network of a run saved with a checkpoint, ready for inference."""
    record = store.load(run_id)
    config = RunConfig.of(record)
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
