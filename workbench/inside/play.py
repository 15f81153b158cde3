"""Play: a camera frame (or any image) through both trained networks at once, fast enough to feel live.

Only the two trained networks are loaded (no starting points, no dataset: Play must open in a second), each
frame is decoded like a training image (`workbench.data.decode`) at the comparison's image size, and both
networks answer in one `torch.inference_mode` pass each. `benchmarks/play.py` measures frames per second.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.errors import RunStoreError
from workbench.experiments.comparisons import load_comparison
from workbench.inside.networks import ROLES, trained_model
from workbench.inside.photo import read_photo, top_classes
from workbench.models.backbones import Backbone, StagedNet, get_backbone
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore


@dataclass
class PlayNetworks:
    comparison_id: str
    classes: list[str]
    dataset: str  # the dataset name the runs trained on ("imagefolder:PATH" for a gathered one)
    config: RunConfig
    backbone: Backbone
    models: dict[str, StagedNet]  # role -> trained network

    def predict(self, data: bytes, k: int = 3, name: str = "the frame") -> dict[str, list[tuple[str, float]]]:
        """Each network's ``k`` most probable classes for one encoded image."""
        image = read_photo(data, self.config.image_size, name)
        x = self.backbone.preprocess(image[None], self.config.normalization)
        return {role: top_classes(model, x, self.classes, k)[0] for role, model in self.models.items()}


def play_networks(store: RunStore, comparison_id: str) -> PlayNetworks:
    """The first seed's trained transfer and scratch networks of a finished comparison, or one line why not."""
    comparison = load_comparison(store, comparison_id)
    records = {role: getattr(comparison, role)[0] for role in ROLES if getattr(comparison, role)}
    if len(records) < 2 or any(r.status != "completed" for r in records.values()):
        raise RunStoreError(f"comparison {comparison_id} has not finished both runs; Play needs both trained networks")
    config = RunConfig.of(records["transfer"])
    return PlayNetworks(comparison_id, records["transfer"].classes, config.dataset, config,
                        get_backbone(config.backbone), {role: trained_model(store, r) for role, r in records.items()})
