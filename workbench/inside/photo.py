"""Your own photo: both networks' top classes and where each looked, and `workbench predict`.

An upload is decoded like a training image, by `workbench.data.decode` (allowed formats only, a
pixel budget, centre crop, resize, RGB); anything that is not such an image, or is too large to
decode safely, is refused with one line instead of a traceback.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from workbench.core.errors import DataError
from workbench.data.decode import decode
from workbench.inside.gradcam import grad_cam
from workbench.inside.networks import ROLES, Networks, trained_model
from workbench.models.backbones import StagedNet, get_backbone
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore

MAX_UPLOAD_BYTES = 20 * 2**20


def read_photo(data: bytes, size: int, name: str = "the upload") -> torch.Tensor:
    """Encoded image bytes -> uint8 (3, size, size), or a one-line `DataError`."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"{name} is over {MAX_UPLOAD_BYTES // 2**20} MB; use a smaller image")
    return decode(io.BytesIO(data), size, name)  # JPEG, PNG, BMP, GIF, WebP or TIFF only; a pixel budget


def top_classes(model: StagedNet, x: torch.Tensor, classes: list[str], k: int) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each normalised image, with their probabilities."""
    with torch.inference_mode():
        top = model(x).softmax(1).topk(min(k, len(classes)))
    return [[(classes[i], float(p)) for p, i in zip(values, indices)]
            for values, indices in zip(top.values.tolist(), top.indices.tolist())]


@dataclass
class PhotoView:
    image: torch.Tensor  # uint8 (3, H, W), as the networks saw it
    top: dict[str, list[tuple[str, float]]]
    heatmaps: dict[str, np.ndarray]  # role -> (H, W), for its top class


def look_at_photo(networks: Networks, data: bytes, k: int = 3, name: str = "the upload") -> PhotoView:
    image = read_photo(data, RunConfig.of(networks.records["transfer"]).image_size, name)
    x = networks.inputs(image[None])
    top, heatmaps = {}, {}
    for role in ROLES:
        model = networks.trained[role]
        top[role] = top_classes(model, x, networks.classes, k)[0]
        heatmaps[role] = grad_cam(model, x, [networks.classes.index(top[role][0][0])])[0]
    return PhotoView(image, top, heatmaps)


def describe(view: PhotoView) -> list[str]:
    return [f"{role:10}" + ", ".join(f"{c} {p:.1%}" for c, p in top) for role, top in view.top.items()]


def read_file(path: str) -> bytes:
    """An image file's bytes (no more than it takes to know it is too large), or a one-line `DataError`."""
    try:
        with open(path, "rb") as stream:
            return stream.read(MAX_UPLOAD_BYTES + 1)
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror or exc})") from None


def predict_files(store: RunStore, run_id: str, paths: list[str], k: int = 3) -> list[dict]:
    """`workbench predict`: each image file's top-``k`` classes from one run's trained network."""
    record = store.load(run_id)
    model = trained_model(store, record)
    settings = RunConfig.of(record)
    backbone = get_backbone(settings.backbone)
    results = []
    for path in paths:
        x = backbone.preprocess(read_photo(read_file(path), settings.image_size, path)[None], settings.normalization)
        results.append({"image": path, "top": [{"class": c, "probability": p}
                                               for c, p in top_classes(model, x, record.classes, k)[0]]})
    return results
