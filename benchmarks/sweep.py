"""A freeze-depth sweep with and without reuse, and on one vs two local workers, timed in one process.

The sweep is the README's: freeze depth 0..6 of EfficientNet-Lite0 on the default data (`textures`,
10 labels per class, 64 px), one seed. Without reuse it trains 14 runs; with reuse the scratch
baseline, identical at every depth, trains once (8 runs). Each case starts from an empty run
folder; the images are decoded once before timing, so every in-process case finds them decoded
(worker processes decode their own, as they would for a user). With ``--repeats 2`` the cases run
forwards, then backwards, so a change in the machine's load weighs on each case alike; printed are
each case's mean wall seconds and the ratios.

    python benchmarks/sweep.py               # 30 runs of 3 epochs; --epochs 2 --repeats 2 for the README
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from workbench.data.loading import load_data
from workbench.experiments.sweeps import run_sweep, sweep_grid
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore


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
    parser.add_argument("--repeats", type=int, default=1, help="rounds, alternately forwards and backwards")
    args = parser.parse_args()
    config = ComparisonConfig(RunConfig(epochs=args.epochs, device="cpu"))
    load_data(config.transfer)  # decoded once, outside every timing
    depths = [int(d) for d in args.depths.split()]
    cases = [("no reuse, 1 worker", False, 1), ("reuse, 1 worker", True, 1), ("reuse, 2 workers", True, 2)]
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    trained: dict[str, int] = {}
    for round_ in range(args.repeats):
        for name, reuse, workers in cases if round_ % 2 == 0 else cases[::-1]:
            seconds, trained[name] = timed_sweep(config, depths, reuse, workers)
            times[name].append(seconds)
            print(f"round {round_ + 1}: {name}: {seconds:.1f} s", flush=True)
    results = {name: statistics.fmean(values) for name, values in times.items()}
    print("\n| case | runs trained | seconds (each round) | mean |\n|---|---:|---:|---:|")
    for name, _, _ in cases:
        print(f"| {name} | {trained[name]} | {' / '.join(f'{t:.1f}' for t in times[name])} | {results[name]:.1f} |")
    print(f"\nreuse speed-up: {results['no reuse, 1 worker'] / results['reuse, 1 worker']:.2f}x; "
          f"2 workers vs 1: {results['reuse, 1 worker'] / results['reuse, 2 workers']:.2f}x "
          f"({'2 workers' if results['reuse, 2 workers'] < results['reuse, 1 worker'] else '1 worker'} faster)")


if __name__ == "__main__":
    main()
