"""A freeze-depth sweep with and without reuse, and on one vs two local workers, timed in one process.

The sweep is the README's: freeze depth 0..6 of EfficientNet-Lite0 on the default data (`textures`,
10 labels per class, 64 px), one seed. Without reuse it trains 14 runs; with reuse the scratch
baseline, identical at every depth, trains once (8 runs). Each case starts from an empty run
folder; the images are decoded once before timing, so every in-process case finds them decoded
(worker processes decode their own, as they would for a user). Printed: wall seconds per case
and the ratios.

    python benchmarks/sweep.py               # 3 epochs a run: about 10 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import tempfile
import time

from workbench.config import ComparisonConfig, RunConfig
from workbench.data import load_data
from workbench.runs import RunStore
from workbench.sweep import run_sweep, sweep_grid


def timed_sweep(config: ComparisonConfig, depths: list[int], reuse: bool, workers: int) -> tuple[float, int]:
    """Wall seconds of the whole sweep, and how many runs it trained (not copied)."""
    with tempfile.TemporaryDirectory() as runs_dir:
        started = time.perf_counter()
        comparisons = run_sweep(sweep_grid(config, "freeze_depth", depths), RunStore(runs_dir), workers=workers,
                                reuse=reuse)
        seconds = time.perf_counter() - started
    trained = sum(not r.reused_from for c in comparisons for r in c.transfer + c.scratch)
    return seconds, trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs a run (the default comparison has 15)")
    parser.add_argument("--depths", default="0 1 2 3 4 5 6")
    args = parser.parse_args()
    config = ComparisonConfig(RunConfig(epochs=args.epochs, device="cpu"))
    load_data(config.transfer)  # decoded once, outside every timing
    depths = [int(d) for d in args.depths.split()]
    cases = [("no reuse, 1 worker", False, 1), ("reuse, 1 worker", True, 1), ("reuse, 2 workers", True, 2)]
    results = {}
    print("| case | runs trained | seconds |\n|---|---:|---:|")
    for name, reuse, workers in cases:
        seconds, trained = timed_sweep(config, depths, reuse, workers)
        results[name] = seconds
        print(f"| {name} | {trained} | {seconds:.1f} |", flush=True)
    print(f"\nreuse speed-up: {results['no reuse, 1 worker'] / results['reuse, 1 worker']:.2f}x; "
          f"2 workers vs 1: {results['reuse, 1 worker'] / results['reuse, 2 workers']:.2f}x "
          f"({'2 workers' if results['reuse, 2 workers'] < results['reuse, 1 worker'] else '1 worker'} faster)")


if __name__ == "__main__":
    main()
