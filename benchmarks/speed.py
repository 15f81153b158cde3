"""Workbench vs a tutorial-style training loop, timed in the same process on the same machine.

The baseline is written the way PyTorch's transfer-learning tutorial writes it: a Dataset of
PIL images with per-sample transforms, a DataLoader, the whole network run forward every step
(so a frozen backbone is recomputed every epoch), NCHW tensors. To compare speed at equal
accuracy, its frozen stages are kept in eval mode like the workbench's (the tutorial leaves
BatchNorm training, which changes accuracy, not speed).

Both sides train the same backbone from the same weights on the same images, sizes, batch size
and epochs. Printed: seconds per epoch after the first (validation included), the ratio, and
final validation accuracy, for a linear probe, half the stages frozen, and full fine-tuning, with the
precision the workbench chose (`--precision auto`: bf16 where this CPU has it natively and it is faster; the
baseline is the tutorial's fp32); then the default `workbench compare` wall time.

    python benchmarks/speed.py            # about 3 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from workbench.data.loading import load_data
from workbench.models.backbones import get_backbone
from workbench.models.freezing import freeze
from workbench.spec.config import RunConfig
from workbench.store.runs import RunStore
from workbench.training.train import train_run


class PILDataset(Dataset):
    """Images kept as PIL, transformed one at a time, as the tutorial's ImageFolder does."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def baseline_run(config: RunConfig, data) -> tuple[list[float], float]:
    """Per-epoch seconds and final validation accuracy of the tutorial-style loop."""
    backbone = get_backbone(config.backbone)
    transform = transforms.Compose([transforms.Resize(config.image_size), transforms.PILToTensor(),
                                    backbone.preprocess])  # one image at a time, as the tutorial's Normalize
    train = DataLoader(PILDataset(data.images["train"], data.labels["train"], transform),
                       batch_size=config.batch_size, shuffle=True)
    val = DataLoader(PILDataset(data.images["val"], data.labels["val"], transform), batch_size=config.batch_size)
    torch.manual_seed(config.seed)
    model = backbone.build(pretrained=config.pretrained, num_classes=data.num_classes)
    freeze(model.stage_list()[: config.freeze_depth])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs * len(train))
    times, accuracy = [], 0.0
    for _ in range(config.epochs):
        started = time.perf_counter()
        model.train()
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val:
                correct += (model(x).argmax(1) == y).sum().item()
        accuracy = correct / len(val.dataset)
        times.append(time.perf_counter() - started)
    return times, accuracy


def after_first(times: list[float]) -> float:
    return statistics.fmean(times[1:]) if len(times) > 1 else times[0]


def default_compare_seconds() -> float:
    with tempfile.TemporaryDirectory() as runs:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "workbench.cli.main", "compare", "--runs-dir", runs],
                       check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--random-weights", action="store_true",
                        help="both sides start from random weights (a backbone whose ImageNet weights are not on this "
                             "machine): the speeds compare as well, the accuracies are not transfer's")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--train-per-class", type=int, default=40)
    parser.add_argument("--skip-default", action="store_true", help="do not time `workbench compare`")
    args = parser.parse_args()

    base = RunConfig(backbone=args.backbone, pretrained=not args.random_weights, dataset="textures",
                     train_per_class=args.train_per_class, image_size=args.image_size,
                     epochs=args.epochs, batch_size=32, lr=1e-3, device="cpu")
    data = load_data(base)
    stages = get_backbone(base.backbone).num_stages
    cases = {"linear probe": stages, "half frozen": stages // 2, "full fine-tune": 0}
    print(f"{base.backbone}, {base.dataset}: {data.size('train')} train / {data.size('val')} val images at "
          f"{base.image_size} px, batch {base.batch_size}, {base.epochs} epochs, {torch.get_num_threads()} threads")
    print(f"{'case':16}{'baseline s/ep':>14}{'workbench s/ep':>15}{'speed-up':>10}{'baseline acc':>14}"
          f"{'workbench acc':>15}  precision")
    with tempfile.TemporaryDirectory() as runs:
        for name, depth in cases.items():
            config = replace(base, freeze_depth=depth)
            times, base_acc = baseline_run(config, data)
            record = train_run(config, RunStore(runs), data=data)
            ours = [e.epoch_s for e in record.epochs]
            ratio = after_first(times) / after_first(ours)
            print(f"{name:16}{after_first(times):>14.3f}{after_first(ours):>15.3f}{ratio:>9.1f}x"
                  f"{100 * base_acc:>13.1f}%{100 * record.epochs[-1].val_acc:>14.1f}%  "
                  f"{record.environment['precision']}", flush=True)
    if not args.skip_default:
        print(f"default `workbench compare`: {default_compare_seconds():.1f} s wall, start-up included")


if __name__ == "__main__":
    main()
