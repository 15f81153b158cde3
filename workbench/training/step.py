"""One optimisation step, shared by training runs and the learning-rate finder so both learn the same way."""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from workbench.models.backbones import StagedNet


def autocast(device: torch.device, cpu_bf16: bool = False):
    """Mixed precision on CUDA (bf16 where supported); on the CPU only if asked for."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if cpu_bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


class TrainStep:
    """One optimisation step: forward (mixed precision where it is on), loss, backward, update."""

    def __init__(self, model: StagedNet, optimizer: torch.optim.Optimizer, device: torch.device,
                 cpu_bf16: bool = False):
        self.model, self.optimizer, self.device, self.cpu_bf16 = model, optimizer, device, cpu_bf16
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported())
        self.count = 0  # steps taken: what learning-rate schedules count

    def __call__(self, x: torch.Tensor, y: torch.Tensor, start: int = 0) -> tuple[float, int]:
        """Train on a batch entering the network at stage ``start``; returns (loss, correct predictions)."""
        with autocast(self.device, self.cpu_bf16):
            logits = self.model.head(self.model.features(x, start))
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.count += 1
        return loss.item(), int((logits.argmax(1) == y).sum())
