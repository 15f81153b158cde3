"""`workbench export-model`: a run's trained network as ONNX or a ``torch.export`` program.

An export is only kept if it computes what the workbench computes: the exported model runs
on the run's validation images and its logits must agree with the workbench's to 1e-4. The
ONNX file carries what a user needs to run it with onnxruntime alone (``metadata_props``:
``classes``, ``image_size``, ``mean``, ``std``, as JSON); its input is the normalised image.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.core.errors import ConfigError, WorkbenchError
from workbench.inside import EXPORT_FORMATS
from workbench.inside.networks import BATCH, evaluate_batches, run_data, trained_model
from workbench.models.backbones import StagedNet, get_backbone
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore

TOLERANCE = 1e-4


class ExportError(WorkbenchError):
    """The exported model does not reproduce the workbench's logits."""


@dataclass
class ExportReport:
    path: str
    format: str
    images: int
    max_abs_diff: float
    bytes: int


def _batch_dim() -> dict:
    return {"x": {0: torch.export.Dim("batch", min=1, max=4096)}}


def _onnx(model: StagedNet, sample: torch.Tensor, path: Path, metadata: dict):
    import onnx
    import onnxruntime

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress notes and deprecation chatter
        torch.onnx.export(model, (sample,), str(path), input_names=["image"], output_names=["logits"],
                          dynamic_shapes=_batch_dim(), external_data=False, dynamo=True, verbose=False)
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {key: json.dumps(value) for key, value in metadata.items()})
    onnx.save(proto, str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"image": x.numpy()})[0])


def _pt2(model: StagedNet, sample: torch.Tensor, path: Path, metadata: dict):
    program = torch.export.export(model, (sample,), dynamic_shapes=_batch_dim())
    torch.export.save(program, str(path), extra_files={"workbench.json": json.dumps(metadata)})
    loaded = torch.export.load(str(path)).module()
    return lambda x: loaded(x).detach()


def export_model(store: RunStore, run_id: str, fmt: str, output: str | Path) -> ExportReport:
    """Write the export, run it on the validation images, keep it only if it agrees to `TOLERANCE`."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    output = Path(output)
    if not output.parent.is_dir():
        raise ConfigError(f"folder {output.parent} does not exist; create it or choose another -o path")
    record = store.load(run_id)
    model = trained_model(store, record)
    settings = RunConfig.of(record)
    backbone = get_backbone(settings.backbone)
    x = backbone.preprocess(run_data(record).images["val"], settings.normalization)
    if not len(x):
        raise ConfigError(f"run {run_id} has no validation images to check an export against")
    reference = evaluate_batches(model, x)[1]
    metadata = {"classes": record.classes, "image_size": settings.image_size,
                "mean": list(backbone.mean), "std": list(backbone.std), "run_id": run_id}
    partial = output.with_name(f".partial-{output.stem}.{fmt}")  # torch.export wants the .pt2 suffix
    try:
        run = (_onnx if fmt == "onnx" else _pt2)(model, x[:2], partial, metadata)
        exported = torch.cat([run(batch) for batch in x.split(BATCH)])
        difference = float((exported - reference).abs().max())
        if not np.isfinite(difference) or difference > TOLERANCE:
            raise ExportError(f"the {fmt} export differs from the workbench's logits by up to {difference:.2e} "
                              f"(more than {TOLERANCE:g}); it was not written")
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return ExportReport(str(output), fmt, len(x), difference, output.stat().st_size)
