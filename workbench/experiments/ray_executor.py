"""Sweeps on Ray: each comparison's runs are one Ray task; records come back to the driver, which writes the store.

Workers need the workbench installed and the backbone's weights (EfficientNet-Lite0's ship with
pip; torchvision backbones read ``$TORCH_HOME`` or download), never the run folder: a task trains
into a temporary folder on its node and returns its records, so weights files stay behind.
``RAY_ADDRESS`` joins an existing cluster; without it a local Ray starts on this machine's cores.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Iterator

from workbench.core import settings
from workbench.core.errors import ConfigError, WorkbenchError
from workbench.experiments.tasks import limit_threads, train_task
from workbench.store.runs import RunStore

RAY_MISSING = "--executor ray needs Ray: pip install 'transfer-workbench[ray]'"


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def _train_remote(config, comparison_id: str, runs: set, threads: int) -> list:
    limit_threads(threads)
    with tempfile.TemporaryDirectory(prefix="workbench-ray-") as runs_dir:
        return train_task(config, comparison_id, runs, runs_dir)


def _gpus_per_task(ray, tasks: list) -> int:
    """A GPU for each task where the runs may use one: asked for, or 'auto' on a cluster that has them."""
    devices = {t.config.transfer.device for t in tasks}
    return 1 if "cuda" in devices or ("auto" in devices and ray.cluster_resources().get("GPU", 0) > 0) else 0


def execute_on_ray(tasks: list, store: RunStore, cpus_per_task: int = 1) -> Iterator[tuple]:
    """Submit every task, then save and yield each one's records as it finishes."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:  # ray.init reads RAY_ADDRESS itself; without it, a local Ray on this machine
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 **({} if settings.ray_address() else {"num_cpus": settings.cores()}))
    pending: dict = {}
    try:
        remote = ray.remote(num_cpus=cpus_per_task, num_gpus=_gpus_per_task(ray, tasks), max_retries=0)(_train_remote)
        pending.update({remote.remote(t.config, t.comparison_id, t.runs, cpus_per_task): t for t in tasks})
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done)
            try:
                records = ray.get(done)
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, WorkbenchError):
                    raise exc.cause from None  # the worker's one-line error, not Ray's traceback
                raise
            for record in records:
                store.save(record)
            yield task, records
    finally:
        for ref in pending:  # a failed or interrupted sweep leaves nothing running on a shared cluster
            ray.cancel(ref)
        if started:
            ray.shutdown()
