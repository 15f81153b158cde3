"""Transfer-vs-scratch comparisons: the same data, splits, epochs, batch size and seeds for both."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Callable

from workbench.core.metrics import METRICS
from workbench.core.records import RunRecord
from workbench.data.loading import load_data
from workbench.experiments.pairs import together, train_pair
from workbench.experiments.reuse import fingerprint
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore
from workbench.training.progress import default_hooks
from workbench.training.train import Hooks, train_run

EPOCH_SCALARS = ("train_loss", "train_acc", "val_loss", "val_acc", "cum_s", "train_flops", "images_seen")


@dataclass
class Comparison:
    comparison_id: str
    config: ComparisonConfig
    transfer: list[RunRecord] = field(default_factory=list)
    scratch: list[RunRecord] = field(default_factory=list)

    def summary(self) -> dict:
        return {"comparison_id": self.comparison_id, "transfer": aggregate(self.transfer),
                "scratch": aggregate(self.scratch)}

    @property
    def empty(self) -> bool:
        """Every run ended before its first epoch (stopped or failed while it loaded): nothing to show, now or later."""
        return all(not r.epochs and r.status != "running" for r in self.transfer + self.scratch)


def _mean_std(values: list) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if len(present) < len(values) or not present:
        return None, None  # e.g. a seed that never reached the target: no honest mean exists
    if not all(math.isfinite(v) for v in present):  # a diverged loss (NaN, inf): `statistics` cannot take them
        return sum(present) / len(present), math.nan
    return statistics.fmean(present), statistics.pstdev(present) if len(present) > 1 else 0.0


def aggregate(records: list[RunRecord]) -> dict | None:
    """One run's summary, or for several seeds the mean (and ``*_std``) of each number and epoch."""
    if not records:
        return None
    if len(records) == 1:
        return records[0].summary()
    summaries = [r.summary() for r in records]
    result = {"run_ids": [s["run_id"] for s in summaries], "seeds": [s["seed"] for s in summaries],
              "reused_from": [s["reused_from"] for s in summaries],
              "status": "completed" if all(s["status"] == "completed" for s in summaries) else "incomplete",
              "target_acc": summaries[0]["target_acc"] if summaries else None,
              "machine_busy": next((s["machine_busy"] for s in summaries if s.get("machine_busy")), None),
              "estimated_s": _mean_std([s.get("estimated_s") for s in summaries])[0],
              "precision": ", ".join(dict.fromkeys(s["precision"] for s in summaries if s.get("precision"))) or None,
              "precision_reason": next((s["precision_reason"] for s in summaries if s.get("precision_reason")), None)}
    for metric in METRICS:
        key = metric.key
        result[key], result[f"{key}_std"] = _mean_std([s[key] for s in summaries])
    depth = min((len(s["epochs"]) for s in summaries), default=0)
    epochs = []
    for i in range(depth):
        row = {"epoch": i + 1}
        for key in EPOCH_SCALARS:
            row[key], row[f"{key}_std"] = _mean_std([s["epochs"][i][key] for s in summaries])
        epochs.append(row)
    result["epochs"] = epochs
    return result


def train_seeds(config: RunConfig, seeds: list[int], store: RunStore | None = None) -> tuple[dict, list[RunRecord]]:
    """Train ``config`` once per seed: the mean and spread of every number and epoch, and the records."""
    records = [train_run(replace(config, seed=seed), store) for seed in seeds]
    return aggregate(records), records


def train_runs(config: ComparisonConfig, store: RunStore, comparison_id: str, runs: set[tuple[str, int]],
               hooks_for: Callable[[str, int], Hooks | None] | None = None) -> list[RunRecord]:
    """Train the given (role, seed) runs of one comparison, in seed order, transfer first; nothing is reused here
    (`experiments.runner` decided that). The data is decoded once, for the first run. A seed's two runs train at
    once where that ends sooner on this machine (`experiments.pairs`), else one after the other."""
    def hooks(role: str, seed: int) -> Hooks:
        return (hooks_for(role, seed) if hooks_for else None) or default_hooks()

    first = next(((role, seed) for seed in config.seeds for role in ("transfer", "scratch") if (role, seed) in runs),
                 None)
    if first is not None:
        hooks(*first).on_prepare("decoding images")
    data = load_data(config.transfer)
    records = []
    for seed in config.seeds:
        transfer, scratch = config.transfer_run(seed), config.scratch(seed)
        if {("transfer", seed), ("scratch", seed)} <= runs and together(transfer, scratch):
            records += train_pair(transfer, scratch, store, data, comparison_id, hooks("transfer", seed),
                                  hooks("scratch", seed))
            continue
        for role, run_config in (("transfer", transfer), ("scratch", scratch)):
            if (role, seed) not in runs:
                continue
            record = train_run(run_config, store, data=data, role=role, comparison_id=comparison_id,
                               hooks=hooks(role, seed), save_checkpoint=True)
            record.fingerprint = fingerprint(run_config)  # set once completed: only a completed run is worth finding
            store.save(record)
            records.append(record)
    return records


def group_comparisons(records: list[RunRecord]) -> dict[str, Comparison]:
    """Comparisons rebuilt from run records (one scan of the store), in the records' order."""
    grouped: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.comparison_id:
            grouped.setdefault(record.comparison_id, []).append(record)
    comparisons = {}
    for comparison_id, members in grouped.items():
        members = sorted(members, key=lambda r: RunConfig.of(r).seed)
        transfer = [r for r in members if r.role == "transfer"]
        scratch = [r for r in members if r.role == "scratch"]
        config = ComparisonConfig()
        if transfer:
            config = ComparisonConfig(RunConfig.of(transfer[0]),  # (a record may leave out settings: their defaults)
                                      scratch_lr=RunConfig.of(scratch[0]).lr if scratch else config.scratch_lr,
                                      seeds=[RunConfig.of(r).seed for r in transfer])
        comparisons[comparison_id] = Comparison(comparison_id, config, transfer, scratch)
    return comparisons


def load_comparison(store: RunStore, comparison_id: str) -> Comparison:
    """One comparison from the records in the store (empty while its first run has not started)."""
    rows, _ = store.list_runs(comparison_id=comparison_id)  # the index: only this comparison's files are read
    records = [store.load(row["run_id"]) for row in rows]
    return group_comparisons(records).get(comparison_id) or Comparison(comparison_id, ComparisonConfig())
