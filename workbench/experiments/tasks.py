"""What one worker does with one comparison of a grid, wherever it runs: this process, a local worker, Ray."""

from __future__ import annotations

from workbench.core.records import RunRecord
from workbench.experiments.comparisons import run_comparison
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore


def train_task(config: ComparisonConfig, comparison_id: str, runs: set[tuple[str, int]], runs_dir: str) -> list[RunRecord]:
    """Train the given (role, seed) runs of one comparison into ``runs_dir``; the planner already decided reuse."""
    comparison = run_comparison(config, RunStore(runs_dir), comparison_id=comparison_id, reuse=False, only=runs)
    return comparison.transfer + comparison.scratch


def limit_threads(threads: int) -> None:
    """A worker's share of the cores (`settings.threads_per_share`), set before it trains anything."""
    import torch

    torch.set_num_threads(threads)
