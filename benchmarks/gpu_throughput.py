"""ResNet-50 fine-tuning throughput at 224 px on a CUDA GPU: the workbench's settings vs fp32 eager.

The workbench trains with mixed precision (bf16 autocast where supported) and channels_last;
the baseline is plain fp32 with NCHW tensors. Same model, batch, optimizer and step count,
measured in one process. Skips (exit 0 with a message) when no GPU is visible.

    python benchmarks/gpu_throughput.py
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from workbench.models.backbones import get_backbone
from workbench.training.step import autocast


def images_per_second(mixed: bool, batch: int, steps: int, warmup: int = 5) -> float:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = get_backbone("resnet50").build(pretrained=False, num_classes=10).to(device).train()
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if mixed:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for step in range(warmup + steps):
        if step == warmup:
            torch.cuda.synchronize()
            started = time.perf_counter()
        with autocast(device) if mixed else torch.autocast("cuda", enabled=False):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU visible: skipped")
        return
    torch.backends.cudnn.benchmark = True
    eager = images_per_second(False, args.batch, args.steps)
    fast = images_per_second(True, args.batch, args.steps)
    print(f"{torch.cuda.get_device_name()}: resnet50 224 px, batch {args.batch}, {args.steps} steps")
    print(f"fp32 eager NCHW          {eager:8.0f} img/s")
    print(f"AMP + channels_last      {fast:8.0f} img/s   {fast / eager:.1f}x")


if __name__ == "__main__":
    main()
