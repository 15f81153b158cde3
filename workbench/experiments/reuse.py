"""Identical runs are trained once: a run's fingerprint, and a record that reuses an earlier run's.

A freeze-depth or learning-rate sweep asks for the same scratch baseline at every point; the
second time, the store already holds a completed run with the same fingerprint, and the new
comparison gets a copy of its record that says where it came from (``reused_from``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace

import torch

from workbench.core.errors import RunStoreError
from workbench.core.records import RunRecord
from workbench.data.loading import dataset_identity
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore, new_id, now_iso

# RunConfig fields that cannot change what a run learns or costs. Every other field, including
# ones added later, is part of the fingerprint: a new field prevents reuse rather than fooling it.
NOT_TRAINING = {
    "target_acc": "only read off the finished curve",
    "device": "replaced by the device it resolves to ('auto' on a CPU machine is 'cpu')",
    "data_dir": "where a downloaded dataset is kept, not what it holds",
}


def fingerprint(config: RunConfig) -> str:
    """A short hash of everything that shapes the run: training settings, data, device and torch."""
    from workbench.training.build import resolve_device

    values = {k: v for k, v in config.to_dict().items() if k not in NOT_TRAINING}
    if config.freeze_depth == 0:  # nothing frozen: the frozen stages' BatchNorm policy and thaw schedule act on nothing
        values.update(bn_policy=None, unfreeze_every=None)
    if config.optimizer != "sgd":  # only SGD reads the momentum
        values["momentum"] = None
    values.update(device=resolve_device(config.device).type, torch=torch.__version__,
                  data=dataset_identity(config.dataset))
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:32]


def find_reusable(store: RunStore, key: str, with_weights: bool = False) -> RunRecord | None:
    """A completed run in ``store`` with this fingerprint (and its weights file, if asked), read from its
    file (None: train it)."""
    for run_id in store.find_completed(key):
        if with_weights and not store.checkpoint_path(run_id).is_file():
            continue
        try:
            record = store.load(run_id)
        except RunStoreError:
            continue  # changed or removed since it was indexed
        if record.status == "completed" and record.fingerprint == key:
            return record
    return None


def reused_record(source: RunRecord, config: RunConfig, role: str, comparison_id: str | None) -> RunRecord:
    """A new run of ``comparison_id`` that copies ``source``'s training and says so."""
    return replace(source, run_id=new_id(f"{role[0]}-"), config=config.to_dict(), role=role,
                   comparison_id=comparison_id, created=now_iso(), finished=now_iso(),
                   reused_from=source.reused_from or source.run_id)


def reuse_run(store: RunStore, source: RunRecord, config: RunConfig, role: str, comparison_id: str | None,
              hooks) -> RunRecord:
    """Save the reusing record (its weights linked, where the source kept them); hooks see it start and end."""
    record = reused_record(source, config, role, comparison_id)
    store.save(record)
    try:
        os.link(store.checkpoint_path(source.run_id), store.checkpoint_path(record.run_id))
    except OSError:
        pass  # the source's weights were pruned or never kept: the record stands without them
    hooks.on_start(record, 1)
    hooks.on_end(record)
    return record
