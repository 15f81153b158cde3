"""Transfer-vs-scratch comparisons: the same data, splits, epochs, batch size and seeds for both."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Callable

from workbench.config import ComparisonConfig, RunConfig
from workbench.data import load_data
from workbench.errors import ConfigError
from workbench.records import RunRecord
from workbench.runs import RunStore, new_id
from workbench.train import Hooks, train_run

SCALARS = ("best_val_acc", "final_val_acc", "test_acc", "wall_s", "train_flops", "trainable_params",
           "total_params", "peak_mem_bytes", "throughput", "time_to_target_s", "flops_to_target")
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


def _mean_std(values: list) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if len(present) < len(values) or not present:
        return None, None  # e.g. a seed that never reached the target: no honest mean exists
    return statistics.fmean(present), statistics.pstdev(present) if len(present) > 1 else 0.0


def aggregate(records: list[RunRecord]) -> dict | None:
    """One run's summary, or for several seeds the mean (and ``*_std``) of each number and epoch."""
    if not records:
        return None
    if len(records) == 1:
        return records[0].summary()
    summaries = [r.summary() for r in records]
    result = {"run_ids": [s["run_id"] for s in summaries], "seeds": [s["seed"] for s in summaries],
              "status": "completed" if all(s["status"] == "completed" for s in summaries) else "incomplete",
              "target_acc": summaries[0]["target_acc"] if summaries else None}
    for key in SCALARS:
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


def run_comparison(config: ComparisonConfig, store: RunStore | None = None,
                   hooks_for: Callable[[str, int], Hooks] | None = None,
                   on_run_done: Callable[[Comparison], None] | None = None) -> Comparison:
    """Train the transfer run and its scratch twin for every seed; each run is saved as it goes.

    ``hooks_for(role, seed)`` gives each run its progress listener. A stop request or Ctrl-C
    ends the comparison after saving the run in progress as interrupted.
    """
    config.validate()
    store = store or RunStore()
    base = config.transfer
    data = load_data(base.dataset, base.image_size, base.split_seed, base.train_per_class,
                     base.max_eval_per_class, base.data_dir)
    comparison = Comparison(new_id("c-"), config)
    for seed in config.seeds:
        for role, run_config in (("transfer", config.transfer_run(seed)), ("scratch", config.scratch(seed))):
            hooks = hooks_for(role, seed) if hooks_for else None
            record = train_run(run_config, store, data=data, role=role,
                               comparison_id=comparison.comparison_id, hooks=hooks)
            getattr(comparison, role).append(record)
            if on_run_done:
                on_run_done(comparison)
    return comparison


def group_comparisons(records: list[RunRecord]) -> dict[str, Comparison]:
    """Comparisons rebuilt from run records (one scan of the store), in the records' order."""
    grouped: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.comparison_id:
            grouped.setdefault(record.comparison_id, []).append(record)
    comparisons = {}
    for comparison_id, members in grouped.items():
        members = sorted(members, key=lambda r: r.config.get("seed", 0))
        transfer = [r for r in members if r.role == "transfer"]
        scratch = [r for r in members if r.role == "scratch"]
        config = ComparisonConfig()
        if transfer:
            config = ComparisonConfig(RunConfig.from_dict(transfer[0].config),
                                      scratch_lr=scratch[0].config["lr"] if scratch else config.scratch_lr,
                                      seeds=[r.config["seed"] for r in transfer])
        comparisons[comparison_id] = Comparison(comparison_id, config, transfer, scratch)
    return comparisons


def load_comparison(store: RunStore, comparison_id: str) -> Comparison:
    """One comparison from the records in the store (empty while its first run has not started)."""
    return group_comparisons(store.scan()[0]).get(comparison_id) or Comparison(comparison_id, ComparisonConfig())


SWEEPABLE = ("freeze_depth", "lr", "train_per_class")


def parse_sweep_values(text: str, parameter: str) -> list:
    """'1e-4 1e-3' for learning rates, '0 3 6' for depths and label counts."""
    cast = float if parameter == "lr" else int
    try:
        return [cast(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ConfigError(f"cannot read the sweep values {text!r}; write numbers separated by spaces") from None


def sweep_configs(base: ComparisonConfig, parameter: str, values: list) -> list[ComparisonConfig]:
    """One comparison per value of ``parameter`` (a transfer-run setting), everything else equal."""
    if parameter not in SWEEPABLE:
        raise ConfigError(f"cannot sweep {parameter!r}; choose one of {', '.join(SWEEPABLE)}")
    if not values:
        raise ConfigError("a sweep needs at least one value")
    configs = [ComparisonConfig(replace(base.transfer, **{parameter: value}), base.scratch_lr, list(base.seeds))
               for value in values]
    for config in configs:
        config.validate()
    return configs


def sweep_points(comparisons: list[Comparison], parameter: str) -> list[dict]:
    """For a sweep plot: each comparison's value of ``parameter`` with both runs' summaries."""
    points = []
    for comparison in comparisons:
        if not comparison.transfer:
            continue
        summary = comparison.summary()
        points.append({parameter: comparison.transfer[0].config.get(parameter),
                       "comparison_id": comparison.comparison_id,
                       "transfer": summary["transfer"], "scratch": summary["scratch"]})
    return points
