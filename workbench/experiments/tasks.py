"""What one worker does with one comparison's runs, wherever it runs: this process, a local worker, Ray."""

from __future__ import annotations

from workbench.core.records import RunRecord
from workbench.experiments.comparisons import train_runs
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore


def train_task(config: ComparisonConfig, comparison_id: str, runs: set[tuple[str, int]], runs_dir: str) -> list[RunRecord]:
    """Train the given (role, seed) runs of one comparison into ``runs_dir``; the planner already decided reuse."""
    return train_runs(config, RunStore(runs_dir), comparison_id, runs)


def limit_threads(threads: int) -> None:
    """A worker's share of the cores (`settings.threads_per_share`), set before it trains anything."""
    import torch

    torch.set_num_threads(threads)
