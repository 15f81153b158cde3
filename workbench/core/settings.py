"""Every environment variable the workbench reads, and the one rule for sharing this machine's cores.

Reading them here, and nowhere else, keeps what a teacher can set in one list (the README's "Settings")
and lets a test or a worker process see exactly which variables change the engine's behaviour.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.core.errors import ConfigError

RUNS_ENV = "WORKBENCH_RUNS"  # the run folder: records, weights, the queue
DATA_ENV = "WORKBENCH_DATA"  # where downloadable datasets are kept
MAX_JOBS_ENV = "WORKBENCH_MAX_JOBS"  # jobs that may train at once in one run folder
KEEP_CHECKPOINTS_ENV = "WORKBENCH_KEEP_CHECKPOINTS"  # comparisons whose weights are kept
MIRROR_ENV = "WORKBENCH_WEIGHTS_MIRROR"  # a school's own server for torchvision weights
STUDY_RUNS_ENV = "WORKBENCH_STUDY_RUNS"  # a run folder the slow study tests may reuse
RAY_ADDRESS_ENV = "RAY_ADDRESS"  # join this Ray cluster instead of starting one
TEACHER_SECRET_ENV = "WORKBENCH_TEACHER_SECRET"  # what a teacher page open to the network asks for
CACHE_ENV = "WORKBENCH_CACHE"  # where this machine's measurements are kept (calibrations, peak FLOP/s)
PAIR_ENV = "WORKBENCH_PAIR"  # a comparison's two runs: "together", "in-turn", or "auto" (whichever is sooner here)
VOILA_ENV = "VOILA_KERNEL_ID"  # set by Voilà in the kernels it starts: the panels run as apps there
# Variables a training worker process reads: a change of any of them means a fresh worker.
WORKER_PREFIXES = ("WORKBENCH_", "TORCH", "PYTORCH_", "OMP_", "MKL_", "CUDA_", "HOME", "XDG_", "PATH", "PYTHON")

DEFAULT_RUNS_DIR = "./runs"
DEFAULT_DATA_DIR = "./data"
DEFAULT_KEEP_CHECKPOINTS = 20  # comparisons whose weights stay (EfficientNet-Lite0: 14 MB a run)


def _get(name: str) -> str:
    return os.environ.get(name, "").strip()


def runs_dir(default: str | Path = DEFAULT_RUNS_DIR) -> Path:
    """The run folder: ``$WORKBENCH_RUNS``, else ``default``, ./runs: the folder the dashboard reads when started in
    the repository. A tutorial, whose kernel starts in notebooks/, gives ``default="../runs"``: the same folder."""
    return Path(_get(RUNS_ENV) or default)


def data_dir() -> Path:
    return Path(_get(DATA_ENV) or DEFAULT_DATA_DIR)


def cache_dir() -> Path:
    """Where measurements of this machine are kept: ``$WORKBENCH_CACHE``, else ``$XDG_CACHE_HOME/transfer-workbench``,
    else ``~/.cache/transfer-workbench``."""
    explicit = _get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    return Path(_get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transfer-workbench"


def weights_mirror() -> str | None:
    return _get(MIRROR_ENV) or None


def ray_address() -> str | None:
    return _get(RAY_ADDRESS_ENV) or None


def study_runs() -> str | None:
    return _get(STUDY_RUNS_ENV) or None


def user_name() -> str:
    return _get("USER")


def in_voila() -> bool:
    """Whether this process is a kernel Voilà started (a notebook served as an app): nothing trains until asked."""
    return bool(_get(VOILA_ENV))


def teacher_secret() -> str | None:
    """The teacher page's secret (`workbench dashboard --teacher` sets it, or makes one, for a networked teacher)."""
    return _get(TEACHER_SECRET_ENV) or None


def share_teacher_secret(secret: str) -> None:
    """Hand the secret to the server about to be started (its environment, not its command line: `ps` shows that)."""
    os.environ[TEACHER_SECRET_ENV] = secret


def _whole_number(name: str, text: str, what: str, low: int) -> int:
    if not text.isdigit() or int(text) < low:
        raise ConfigError(f"{name}={text!r}: give a whole number of {what}, {low} or more")
    return int(text)


def keep_checkpoints() -> int:
    """How many of the newest comparisons keep their weights: ``$WORKBENCH_KEEP_CHECKPOINTS`` or 20."""
    text = _get(KEEP_CHECKPOINTS_ENV)
    return _whole_number(KEEP_CHECKPOINTS_ENV, text, "comparisons (0 keeps none)", 0) if text else DEFAULT_KEEP_CHECKPOINTS


def cores() -> int:
    return os.cpu_count() or 1


def max_jobs() -> int:
    """``$WORKBENCH_MAX_JOBS``, else half the cores (at least one): jobs that train at once in a run folder."""
    text = _get(MAX_JOBS_ENV)
    return _whole_number(MAX_JOBS_ENV, text, "jobs", 1) if text else max(1, cores() // 2)


PAIR_MODES = ("auto", "together", "in-turn")


def pair_mode() -> str:
    """``$WORKBENCH_PAIR``: how a comparison's transfer and scratch runs share the cores (`experiments.pairs`)."""
    mode = _get(PAIR_ENV).lower() or "auto"
    if mode not in PAIR_MODES:
        raise ConfigError(f"{PAIR_ENV}={mode!r} is not a choice; use one of {', '.join(PAIR_MODES)}")
    return mode


def threads_per_share(shares: int) -> int:
    """The one rule for sharing cores: ``shares`` processes training at once get an equal whole number of
    cores each, at least one (two 2-thread processes on 2 cores slow each other up to 10x)."""
    return max(1, cores() // max(1, shares))


def worker_environment() -> dict[str, str]:
    """The variables a training worker reads (not the run folder: each job names its own)."""
    return {k: v for k, v in os.environ.items() if k.startswith(WORKER_PREFIXES) and k != RUNS_ENV}
