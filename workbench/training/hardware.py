"""This machine as training sees it: its CPU, whether that CPU has native bfloat16, and its peak FLOP/s.

A run's hardware use is its achieved FLOP/s over the peak a large matrix product reaches here, in the precision
the run trained in. Measurements of the machine are kept in a small JSON file in the user's cache folder
(`workbench.core.settings.cache_dir`), each under a key holding everything that changes its answer (the CPU, its
cores, the threads, the torch version, ...): another machine or a new torch measures again, and stale entries are
dropped when the file is next written.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from workbench.core.files import write_atomically
from workbench.core.metrics import BUSY_SHARE
from workbench.core.settings import cache_dir, cores
from workbench.training.cost import CpuMeter

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs that compute in bfloat16 natively
CACHE_FILE = "measurements.json"
PROBE_SIZE = {"cpu": 1024, "cuda": 4096}  # side of the square matrices the peak is measured with
PROBE_S = 0.3  # about this long a probe times matrix products (after one to warm up)
MACHINE_KEYS = ("machine", "cores", "torch")  # an entry whose values differ from today's is stale


def cpu_flags() -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo; empty where there is none: macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16() -> list[str]:
    """The flags that say this CPU computes bfloat16 natively (none: bf16 autocast is emulated, and slow)."""
    return sorted(set(NATIVE_BF16_FLAGS) & cpu_flags())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def torch_version() -> str:
    return torch.__version__


def machine(device: torch.device) -> dict:
    """What a measurement of this machine depends on, whatever it measures."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return {"machine": name, "cores": cores(), "threads": torch.get_num_threads(), "torch": torch_version()}


class Measurements:
    """The cache file: each measurement under the key of what it depends on (`machine` and more)."""

    def __init__(self, folder: Path | None = None):
        self.path = (folder or cache_dir()) / CACHE_FILE

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, kind: str, key: dict):
        """The value measured under ``key``, or None (never measured, or on another machine or torch)."""
        entries = self._read().get(kind)
        entry = entries.get(_text(key)) if isinstance(entries, dict) else None
        return entry.get("value") if isinstance(entry, dict) else None

    def put(self, kind: str, key: dict, value) -> None:
        """Keep ``value`` under ``key``, dropping this kind's entries from another machine or torch; a cache folder
        that cannot be written (a read-only home) only means measuring again next time."""
        data = self._read()
        entries = data.get(kind) if isinstance(data.get(kind), dict) else {}
        current = {k: key.get(k) for k in MACHINE_KEYS}
        data[kind] = {k: e for k, e in entries.items()
                      if isinstance(e, dict) and isinstance(e.get("key"), dict)
                      and {m: e["key"].get(m) for m in MACHINE_KEYS} == current}
        data[kind][_text(key)] = {"key": key, "value": value}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, lambda stream: stream.write(json.dumps(data, indent=1).encode()))
        except OSError:
            pass


def _text(key: dict) -> str:
    return json.dumps(key, sort_keys=True)


def peak_dtype(device: torch.device, precision: str) -> torch.dtype:
    """The dtype whose peak a run in ``precision`` is compared against: bf16 only where the hardware has it (an
    emulated bf16 has no peak of its own; the machine's is its fp32 one)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" and native_bf16() else torch.float32


def peak_flops(device: torch.device, precision: str, store: Measurements | None = None) -> tuple[float, str]:
    """(peak FLOP/s, what was measured) for a run in ``precision`` on ``device``: measured once per machine and torch
    (under a second), then read from the cache. A probe while other programs load the CPU is not kept."""
    dtype = peak_dtype(device, precision)
    name = str(dtype).removeprefix("torch.").replace("bfloat16", "bf16").replace("float32", "fp32")
    key = {**machine(device), "dtype": name}
    what = f"{name} matrix product, {PROBE_SIZE[device.type]}x{PROBE_SIZE[device.type]}, {key['threads']} threads"
    store = store or Measurements()
    cached = store.get("peak_flops", key)
    if isinstance(cached, (int, float)) and cached > 0:
        return float(cached), what
    meter = CpuMeter()
    value = matmul_flops_per_s(device, dtype)
    _, others = meter.lap()
    if others is None or others <= BUSY_SHARE:
        store.put("peak_flops", key, value)
    return value, what


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype) -> float:
    """The best rate of a square matrix product over about `PROBE_S` seconds (a multiply-add is 2 FLOPs)."""
    n = PROBE_SIZE[device.type]
    generator = torch.Generator(device=device).manual_seed(0)  # leaves the global random state to the run
    a = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    _sync(device, torch.mm(a, b))
    best, runs, started = float("inf"), 0, time.perf_counter()
    while runs < 3 or (time.perf_counter() - started < PROBE_S and runs < 200):
        t0 = time.perf_counter()
        _sync(device, torch.mm(a, b))
        best, runs = min(best, time.perf_counter() - t0), runs + 1
    return 2 * n**3 / best


def _sync(device: torch.device, _result: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
