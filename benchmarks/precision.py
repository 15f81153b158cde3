"""fp32 against bfloat16 on this CPU: seconds per epoch and test accuracy, over seeds, in one process.

Three cases of the same backbone on the same images: a linear probe (every stage frozen), half the stages
frozen, and a full fine-tune. Each seed trains the case in fp32 and then in bf16 (`--precision bf16`: autocast),
one after the other, so that a change of the machine's load hits both alike; seconds per epoch are the mean
after the first epoch (validation included). Printed as a Markdown table with the CPU model (`lscpu`), its
bfloat16 flags, and what `--precision auto` picks here for each case.

    python benchmarks/precision.py             # about 5 minutes on 2 CPU cores without native bf16
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace

import torch

from workbench.data.loading import load_data
from workbench.models.backbones import get_backbone
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore
from workbench.training.hardware import NATIVE_BF16_FLAGS, cpu_model, native_bf16
from workbench.training.precision import PRECISIONS, choose_precision
from workbench.training.train import train_run


def after_first(times: list[float]) -> float:
    return statistics.fmean(times[1:]) if len(times) > 1 else times[0]


def mean_spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    mean = statistics.fmean(values) * scale
    spread = statistics.pstdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--dataset", default="textures")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0 1 2")
    parser.add_argument("--random-weights", action="store_true",
                        help="start from random weights (a backbone whose ImageNet weights are not on this machine): "
                             "the seconds are the same, the accuracies are not a transfer run's")
    args = parser.parse_args()

    seeds = [int(s) for s in args.seeds.split()]
    base = RunConfig(backbone=args.backbone, dataset=args.dataset, image_size=args.image_size, epochs=args.epochs,
                     device="cpu", pretrained=not args.random_weights)
    data = load_data(base)
    stages = get_backbone(base.backbone).num_stages
    cases = {f"linear probe ({stages} of {stages} frozen)": stages,
             f"half frozen ({stages // 2} of {stages})": stages // 2, "full fine-tune": 0}
    flags = native_bf16()
    print(f"CPU: {cpu_model()}, {torch.get_num_threads()} threads; native bf16 flags: "
          f"{', '.join(flags) if flags else 'none (' + ' / '.join(NATIVE_BF16_FLAGS) + ' absent: bf16 is emulated)'}")
    print(f"{base.backbone}, {base.dataset}: {data.size('train')} train / {data.size('test')} test images at "
          f"{base.image_size} px, batch {base.batch_size}, {base.epochs} epochs, seeds {args.seeds}, "
          f"{'random' if args.random_weights else 'ImageNet'} weights; "
          f"torch {torch.__version__}; {time.strftime('%Y-%m-%d')}\n", flush=True)
    rows, busy = [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        store = RunStore(runs)
        for name, depth in cases.items():
            config = replace(base, freeze_depth=depth)
            seconds = {p: [] for p in PRECISIONS}
            accuracy = {p: [] for p in PRECISIONS}
            for seed in seeds:
                for precision in PRECISIONS:
                    record = train_run(replace(config, seed=seed, precision=precision), store, data=data)
                    seconds[precision].append(after_first([e.epoch_s for e in record.epochs]))
                    accuracy[precision].append(record.test_acc)
                    busy += [e.others_cpu_share for e in record.epochs if e.others_cpu_share is not None]
            auto = choose_precision(config, torch.device("cpu"), train_images=data.size("train"))
            speedup = statistics.fmean(seconds["fp32"]) / statistics.fmean(seconds["bf16"])
            per_epoch = [mean_spread(seconds[p], digits=3) for p in PRECISIONS]
            tested = [mean_spread(accuracy[p], 100) + "%" for p in PRECISIONS]
            rows.append(f"| {name} | {per_epoch[0]} | {per_epoch[1]} | {speedup:.2f}x | {tested[0]} | {tested[1]} | "
                        f"{auto.name} |")
            took = time.perf_counter() - started
            print(f"{name}: done ({took:.0f} s); --precision auto: {auto.name} ({auto.reason})", flush=True)
    print("\n| case | fp32 s/epoch | bf16 s/epoch | bf16 speed-up | fp32 test acc | bf16 test acc | auto picks |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    print(f"\nmean ± spread over {len(seeds)} seeds; others' share of the CPU during the runs: "
          f"mean {statistics.fmean(busy or [0]):.0%}, max {max(busy or [0]):.0%}; "
          f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
