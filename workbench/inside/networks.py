"""A finished comparison's networks, ready to look inside: where each one started and where it ended.

The trained weights come from the runs' checkpoints (loaded ``weights_only``). The starting points
are rebuilt by the engine's own `build_model` from the recorded config and seed: the transfer run's
ImageNet weights (or the run it started from, ``init_run``) and the scratch run's random
initialisation, which the seed fixes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.core.errors import RunStoreError
from workbench.core.records import RunRecord
from workbench.core.settings import KEEP_CHECKPOINTS_ENV
from workbench.data.loading import DataBundle, load_data
from workbench.experiments.comparisons import load_comparison
from workbench.models.backbones import Backbone, StagedNet, get_backbone
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore
from workbench.training.build import build_model, restore_model

ROLES = ("transfer", "scratch")
BATCH = 128


@dataclass
class Networks:
    """The first seed's transfer and scratch runs of one comparison: records, start and trained networks."""

    comparison_id: str
    records: dict[str, RunRecord]
    start: dict[str, StagedNet]
    trained: dict[str, StagedNet]
    data: DataBundle
    backbone: Backbone

    @property
    def classes(self) -> list[str]:
        return self.records["transfer"].classes

    @property
    def start_label(self) -> str:
        """What the transfer run started from: 'ImageNet', or the run it was initialised with."""
        source = RunConfig.of(self.records["transfer"]).init_run
        return f"start (run {source})" if source else "ImageNet"

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.preprocess(images, RunConfig.of(self.records["transfer"]).normalization)


def run_data(record: RunRecord) -> DataBundle:
    """The images a run was trained and evaluated on, decoded again from its recorded config."""
    return load_data(RunConfig.from_dict(record.config))


def trained_model(store: RunStore, record: RunRecord) -> StagedNet:
    """A run's trained network, or a one-line reason it has none."""
    if not store.checkpoint_path(record.run_id).is_file():
        raise RunStoreError(
            f"run {record.run_id} kept no weights: only the newest comparisons keep them (${KEEP_CHECKPOINTS_ENV}, "
            f"default 20) and runs recorded before they were kept have none; run the comparison again with "
            f"--no-reuse (a reused run links its source's weights, and this one has none)")
    return restore_model(store, record.run_id)


def starting_model(store: RunStore, record: RunRecord) -> StagedNet:
    """The network as the run began: rebuilt from its config and seed, without touching the global RNG."""
    config = RunConfig.from_dict({**record.config, "compile": False, "channels_last": False})
    with torch.random.fork_rng(devices=[]):
        model = build_model(config, len(record.classes), torch.device("cpu"), store)
    return model.eval()


def load_networks(store: RunStore, comparison_id: str) -> Networks:
    """Everything the views need from one finished comparison (its first seed)."""
    comparison = load_comparison(store, comparison_id)
    if not comparison.transfer and not comparison.scratch:
        raise RunStoreError(f"no comparison {comparison_id!r} in {store.root}; list them with `workbench runs`")
    records = {role: getattr(comparison, role)[0] for role in ROLES if getattr(comparison, role)}
    unfinished = [f"{role} {r.status}" for role, r in records.items() if r.status != "completed"]
    if len(records) < 2 or unfinished:
        raise RunStoreError(f"comparison {comparison_id} has not finished ({', '.join(unfinished) or 'one run missing'}); "
                            f"the views need both trained networks")
    return Networks(comparison_id, records,
                    start={role: starting_model(store, r) for role, r in records.items()},
                    trained={role: trained_model(store, r) for role, r in records.items()},
                    data=run_data(records["transfer"]), backbone=get_backbone(RunConfig.of(records["transfer"]).backbone))


def spread_over_classes(labels: torch.Tensor, count: int) -> list[int]:
    """Up to ``count`` indices: the first image of every class, then the second of every class, ..."""
    rank = torch.zeros_like(labels)
    for c in labels.unique():
        rank[labels == c] = torch.arange(int((labels == c).sum()))
    return sorted(range(len(labels)), key=lambda i: (int(rank[i]), int(labels[i])))[:count]


def evaluate_batches(model: StagedNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features and logits of normalised images, in batches, without autograd."""
    features, logits = [], []
    with torch.inference_mode():
        for batch in x.split(BATCH):
            f = model.features(batch)
            features.append(f)
            logits.append(model.head(f))
    if not features:
        return torch.empty(0), torch.empty(0)
    return torch.cat(features), torch.cat(logits)
