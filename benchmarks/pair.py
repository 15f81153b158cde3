"""The default comparison's two runs one after the other, or at once in two processes (`experiments.pairs`).

Each case is the real command, `workbench compare` with no options (start-up and the estimate before it
included), in an empty run folder, with ``$WORKBENCH_PAIR`` set to ``in-turn`` or ``together``; the cases
alternate, ``--repeats`` times each, so a change in the machine's load weighs on both alike. Printed per
case: the median wall seconds, and when each run's first epoch was on record (the second curve's first point:
what a student watching the chart waits for). Run it on an idle machine; it first measures this machine once
(the calibrations the pair's choice rests on), then says which way `auto` chooses here.

    python benchmarks/pair.py               # about 4 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from workbench.experiments.pairs import pairing
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore

COMMAND = [str(Path(sys.executable).with_name("workbench")), "compare", "--no-reuse"]


def timed(mode: str) -> tuple[float, dict[str, float]]:
    """Wall seconds of one `workbench compare`, and the seconds after its start at which each run's first epoch
    was on record."""
    with tempfile.TemporaryDirectory() as runs:
        started_wall, started = time.time(), time.perf_counter()
        subprocess.run(COMMAND, check=True, capture_output=True,
                       env={**os.environ, "WORKBENCH_PAIR": mode, "WORKBENCH_RUNS": runs})
        seconds = time.perf_counter() - started
        first = {}
        for record in RunStore(runs).scan()[0]:
            created = datetime.fromisoformat(record.created).timestamp()
            first[record.role] = created - started_wall + record.epochs[0].epoch_s
        return seconds, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = ComparisonConfig()
    seconds = pairing(config.transfer_run(0), config.scratch(0), measure=True)  # measures once, as the CLI does
    print("auto chooses:", "at once" if seconds else "in turn",
          f"(estimated: in turn {seconds.in_turn:.1f} s, at once {seconds.at_once:.1f} s)" if seconds else "")
    walls: dict[str, list[float]] = {"in-turn": [], "together": []}
    firsts: dict[str, list[dict]] = {"in-turn": [], "together": []}
    for _ in range(args.repeats):
        for mode in walls:
            wall, first = timed(mode)
            walls[mode].append(wall)
            firsts[mode].append(first)
    print(f"{'case':10}{'wall s (median)':>17}{'runs':>22}{'transfer 1st epoch':>20}{'scratch 1st epoch':>19}")
    for mode in walls:
        runs = ", ".join(f"{w:.1f}" for w in walls[mode])
        first = {role: statistics.median(f[role] for f in firsts[mode]) for role in ("transfer", "scratch")}
        print(f"{mode:10}{statistics.median(walls[mode]):>17.1f}{runs:>22}{first['transfer']:>19.1f}s"
              f"{first['scratch']:>18.1f}s")
    ratio = statistics.median(walls["in-turn"]) / statistics.median(walls["together"])
    print(f"at once / in turn: {ratio:.2f}x as fast")


if __name__ == "__main__":
    main()
