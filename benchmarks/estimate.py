"""The estimate before Launch against the wall time that followed, for 10 varied settings on this machine.

Each setting is estimated first (calibrating this machine where it was never measured for it: not timed), then
trained in a fresh run folder and timed: comparisons through `run_comparisons` as `workbench compare` and the
dashboard's jobs train them, a sweep on 2 local workers as `workbench sweep` does, a study in quick mode as
`workbench reproduce --quick` does. Backbones whose ImageNet weights are not on this machine are timed as single
runs from random weights (a transfer run's cost does not depend on its weights' values). Goal: within ±30 % for
at least 8 of the 10. Printed: a Markdown table with the CPU model, and how loaded the machine was meanwhile
(other processes' share of the CPU: a sweep's own worker processes count there).

    flock /tmp/workbench-timing.lock python benchmarks/estimate.py     # about 4 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace

from workbench.cli.estimate import study_configs
from workbench.experiments.estimate import estimate
from workbench.experiments.run_time import data_cost, run_seconds  # data_cost: decoding, as a run pays it
from workbench.experiments.runner import run_comparisons
from workbench.models.backbones import get_backbone
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.store.runs import RunStore
from workbench.studies import STUDIES, run_study
from workbench.training.cost import CpuMeter
from workbench.training.hardware import cpu_model
from workbench.training.train import train_run

GOAL = 0.30


@dataclass
class Setting:
    label: str
    kind: str  # "comparison", "run" (a single run from random weights), "sweep" or "study"
    configs: list[ComparisonConfig]
    workers: int = 1


def _comparison(**values) -> ComparisonConfig:
    return ComparisonConfig(RunConfig(**values))


def settings() -> list[Setting]:
    lite = "efficientnet_lite0"
    return [
        Setting("lite0 64 px, full fine-tune, 15 epochs (the default demo)", "comparison", [_comparison()]),
        Setting("lite0 32 px, all frozen (linear probe), 15 epochs", "comparison",
                [_comparison(image_size=32, freeze_depth=6)]),
        Setting("lite0 96 px, half frozen, 5 epochs", "comparison", [_comparison(image_size=96, freeze_depth=3,
                                                                                epochs=5)]),
        Setting("lite0 128 px, all frozen, digits:0-4 20/class, 8 epochs", "comparison",
                [_comparison(image_size=128, freeze_depth=6, dataset="digits:0-4", train_per_class=20, epochs=8)]),
        Setting("resnet18 64 px, full fine-tune, 5 epochs", "run", [_comparison(backbone="resnet18", epochs=5)]),
        Setting("resnet18 128 px, half frozen, 4 epochs", "run",
                [_comparison(backbone="resnet18", image_size=128, freeze_depth=2, epochs=4)]),
        Setting("mobilenet_v3_small 64 px, all frozen, 10 epochs", "run",
                [_comparison(backbone="mobilenet_v3_small", freeze_depth=4, epochs=10)]),
        Setting("mobilenet_v3_small 128 px, full fine-tune, 4 epochs", "run",
                [_comparison(backbone="mobilenet_v3_small", image_size=128, epochs=4)]),
        Setting("sweep: lite0 32 px freeze 0/3/6, 5 epochs, 2 workers", "sweep",
                [_comparison(backbone=lite, image_size=32, epochs=5, freeze_depth=d) for d in (0, 3, 6)], workers=2),
        Setting("study: crossover --quick, 1 seed", "study", study_configs("crossover", [0], True)[0]),
    ]


def estimated(setting: Setting) -> float:
    if setting.kind == "run":
        config = replace(setting.configs[0].transfer, pretrained=False)
        return run_seconds(config)[0] + data_cost(config).decode_s
    only = study_configs("crossover", [0], True)[1] if setting.kind == "study" else None
    return estimate(setting.configs, None, setting.workers, reuse=True, only=only).total_s


def actual(setting: Setting, folder: str) -> float:
    store = RunStore(folder)
    started = time.perf_counter()
    if setting.kind == "run":
        from workbench.data.loading import load_data

        config = replace(setting.configs[0].transfer, pretrained=False)
        train_run(config, store, data=load_data(config), hooks=None)
    elif setting.kind == "study":
        run_study(STUDIES["crossover"], store, [0], quick=True)
    else:
        run_comparisons(setting.configs, store, workers=setting.workers)
    return time.perf_counter() - started


def _drop_decoded() -> None:
    """Each setting decodes its images as a fresh command would (the estimate counts decoding)."""
    from workbench.data import loading

    loading._BUNDLES.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, nargs="*", help="only these settings (1-based)")
    args = parser.parse_args()
    for name in ("resnet18", "mobilenet_v3_small"):
        get_backbone(name)
    rows, within = [], 0
    chosen = [s for i, s in enumerate(settings(), 1) if not args.only or i in args.only]
    for setting in chosen:
        expected = estimated(setting)
        _drop_decoded()
        meter = CpuMeter()
        with tempfile.TemporaryDirectory() as folder:
            took = actual(setting, folder)
        _, others = meter.lap()
        error = expected / took - 1
        within += abs(error) <= GOAL
        label = setting.label + (" (single run)" if setting.kind == "run" else "")
        rows.append((label, expected, took, error, others))
        print(f"{setting.label}: estimated {expected:.1f} s, took {took:.1f} s ({100 * error:+.0f} %), "
              f"others' CPU {100 * (others or 0):.0f} %", flush=True)
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
                 cpu_model())
    print(f"\nCPU: {model}, {len(__import__('os').sched_getaffinity(0))} cores; {time.strftime('%Y-%m-%d')}\n")
    print("| setting | estimated | actual | error | others' CPU |")
    print("|---|---:|---:|---:|---:|")
    for label, expected, took, error, others in rows:
        print(f"| {label} | {expected:.1f} s | {took:.1f} s | {100 * error:+.0f} % | {100 * (others or 0):.0f} % |")
    print(f"\nwithin ±{100 * GOAL:.0f} %: {within} of {len(rows)} (goal: 8 of 10)")


if __name__ == "__main__":
    main()
