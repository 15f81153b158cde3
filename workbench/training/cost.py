"""What training costs: FLOPs actually executed and peak memory (wall time is taken at the step, in `train`)."""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                         output_padding, groups, output_mask, out_shape) -> int:
    """Convolution backward = one forward-sized convolution per gradient asked for.

    torch's own formula ignores ``groups`` for the weight gradient, which over-counts a
    depthwise convolution by its channel count (about 40x for EfficientNet/MobileNet).
    """
    if transposed:
        return flop_counter.conv_backward_flop(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation,
                                               transposed, output_padding, groups, output_mask, out_shape)
    forward = 2 * grad_out_shape[0] * math.prod(grad_out_shape[2:]) * math.prod(w_shape)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


FLOP_FORMULAS = {torch.ops.aten.convolution_backward: _conv_backward_flops}


def _counter() -> FlopCounterMode:
    return FlopCounterMode(display=False, custom_mapping=FLOP_FORMULAS)


class FlopMeter:
    """A run's training FLOPs so far, counted on the work that really runs.

    Counted by ``torch.utils.flop_counter`` from the operators that execute, so a frozen
    prefix running under ``no_grad`` contributes its forward pass and nothing else. Like the
    counter, it counts convolutions and matrix products (a multiply-add is 2 FLOPs).
    """

    def __init__(self):
        self.total = 0
        self._per_image: float | None = None
        self._setup: object = None

    @contextmanager
    def count(self) -> Iterator[None]:
        """Count everything run inside the block (forward, and backward where autograd runs one)."""
        with _counter() as counter:
            yield
        self.total += int(counter.get_total_flops())

    @contextmanager
    def step(self, images: int, setup: object) -> Iterator[None]:
        """A training step on ``images`` images: counted for real on the first step of each ``setup``
        (what a step runs: freeze depth, cached prefix), then charged at that step's cost per image."""
        if self._per_image is None or setup != self._setup:
            with _counter() as counter:
                yield
            self._per_image, self._setup = counter.get_total_flops() / images, setup
        else:
            yield
        self.total += int(self._per_image * images)


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs of everything ``step`` runs (see `FlopMeter`)."""
    meter = FlopMeter()
    with meter.count():
        step()
    return meter.total


PARTNERS: set[int] = set()  # processes training the other run of this one's pair: their CPU is not "others"


@contextmanager
def partnered(pid: int) -> Iterator[None]:
    """While a comparison's two runs train at once, each on its share of the cores, neither counts the other's
    work as other programs loading the machine (it would say "busy" of every run trained side by side)."""
    PARTNERS.add(pid)
    try:
        yield
    finally:
        PARTNERS.discard(pid)


def _process_cpu_s(pid: int) -> float:
    """CPU seconds a process has used (``/proc/PID/stat``: user and system time); 0 where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class CpuMeter:
    """This process's CPU seconds, and how much of the machine other programs used, between laps.

    Wall seconds are only a fair cost when a run had the machine to itself. Linux's ``/proc/stat``
    counts the busy time of every core; what is left after this process's own CPU time (and its `PARTNERS`')
    is other work competing with the run (a browser, a second tab's refresh, another job).
    """

    _STAT = Path("/proc/stat")

    def __init__(self):
        self._cores = os.cpu_count() or 1
        self._mark = self._read()

    def _machine_busy_s(self) -> float | None:
        try:
            fields = [int(v) for v in self._STAT.read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # all but idle and iowait
        return busy / os.sysconf("SC_CLK_TCK")

    def _read(self) -> tuple[float, float, float | None, dict[int, float]]:
        partners = {pid: _process_cpu_s(pid) for pid in PARTNERS}
        return time.perf_counter(), time.process_time(), self._machine_busy_s(), partners

    def lap(self) -> tuple[float, float | None]:
        """(CPU seconds this process used, share of all cores other programs used) since the last lap."""
        (wall0, own0, busy0, partners0), (wall1, own1, busy1, partners1) = self._mark, self._read()
        self._mark = (wall1, own1, busy1, partners1)
        own = own1 - own0
        if busy0 is None or busy1 is None or wall1 <= wall0:
            return own, None
        partners = sum(max(0.0, cpu - partners0[pid]) for pid, cpu in partners1.items() if pid in partners0)
        others = max(0.0, (busy1 - busy0) - own - partners)  # (a partner since this lap began: from the next one)
        return own, min(1.0, others / ((wall1 - wall0) * self._cores))


def others_share_now(seconds: float = 0.3) -> float | None:
    """Other programs' share of the cores over the next ``seconds``: the load a run would start under."""
    meter = CpuMeter()
    time.sleep(seconds)
    return meter.lap()[1]


class BusyWatch:
    """Other programs' share of the CPU over the last few seconds, known while a run trains (a record only
    says it per epoch, once the epoch is over): for a progress line that warns as soon as it is true."""

    def __init__(self, every_s: float = 2.0):
        self.every_s = every_s
        self.share: float | None = None  # over the latest window; None until one has passed
        self._meter = CpuMeter()
        self._since = time.perf_counter()

    def poll(self) -> float | None:
        """The share over the latest window of at least ``every_s`` seconds (cheap to call every step)."""
        if time.perf_counter() - self._since >= self.every_s:
            self.share = self._meter.lap()[1]
            self._since = time.perf_counter()
        return self.share


class MemoryMeter:
    """Peak memory of the current run: CUDA max-allocated on GPU, peak RSS on CPU.

    On Linux the kernel's peak-RSS mark is reset at the start of each run, so a run's peak is
    its own and not the previous run's.
    """

    _STATUS = Path("/proc/self/status")
    _CLEAR = Path("/proc/self/clear_refs")

    def __init__(self, device: torch.device):
        self.device = device
        self._resettable = False

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            self._CLEAR.write_text("5")
            self._resettable = True
        except OSError:
            self._resettable = False

    def peak_bytes(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        if self._resettable:
            for line in self._STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
