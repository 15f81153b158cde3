"""Every number a run is judged by, described once.

A `Metric` says how to read its value from a run record, what a person calls it, how to print
it and which direction is better. The run summary, the seed aggregation, the terminal table,
the dashboard's table, the cost bars and the sweep pickers all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def human_count(value: float | None, unit: str = "") -> str:
    """1234567 -> '1.2M': counts of parameters, FLOPs and bytes."""
    if value is None:
        return "-"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{suffix}{unit}"
    return f"{value:.0f}{unit}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def small_percent(value: float | None) -> str:
    """A share that can be tiny (a linear probe's share of the machine's peak): '8.5%', '0.042%'."""
    return "-" if value is None else f"{100 * value:.1f}%" if value >= 0.01 else f"{100 * value:.2g}%"


def seconds(value: float | None) -> str:
    """Seconds with the precision a short run needs: '0.31 s', '4.2 s', '125 s'."""
    if value is None:
        return "-"
    return f"{value:.2f} s" if value < 1 else f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


def _not_reached(render: Callable[[float], str]) -> Callable[[float | None], str]:
    return lambda value: "not reached" if value is None else render(value)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # shown on axes: "", "s", "FLOPs", "B", "img/s"
    better: str  # "higher" or "lower"
    read: Callable  # RunRecord -> value (None where the run has no such number yet)
    render: Callable[[float | None], str]
    accuracy: bool = False  # offered where a plot asks "which accuracy?"
    cost: bool = False  # drawn in the cost bars

    def format(self, value: float | None) -> str:
        return self.render(value)


def _last(attribute: str):
    return lambda r: getattr(r.epochs[-1], attribute) if r.epochs else None


def achieved_flops_per_s(record) -> float | None:
    """Training FLOPs per wall second of the run's epochs (their validation is in the seconds, not the FLOPs)."""
    last = record.epochs[-1] if record.epochs else None
    return last.train_flops / last.cum_s if last and last.cum_s > 0 else None


def peak_share(record) -> float | None:
    """Achieved FLOP/s over the peak its record was compared against (`environment`; older records have none)."""
    achieved, peak = achieved_flops_per_s(record), record.environment.get("peak_flops_per_s")
    usable = isinstance(peak, (int, float)) and not isinstance(peak, bool) and 0 < peak < float("inf")
    return achieved / peak if achieved is not None and usable else None


def _target(attribute: str):
    def read(record):
        hit = record.reached_target()
        return getattr(hit, attribute) if hit else None

    return read


METRICS: tuple[Metric, ...] = (
    Metric("best_val_acc", "best val acc", "", "higher", lambda r: max((e.val_acc for e in r.epochs), default=None),
           percent, accuracy=True),
    Metric("final_val_acc", "final val acc", "", "higher", _last("val_acc"), percent, accuracy=True),
    Metric("test_acc", "test acc", "", "higher", lambda r: r.test_acc, percent, accuracy=True),
    Metric("wall_s", "wall time", "s", "lower", lambda r: r.epochs[-1].cum_s if r.epochs else 0.0, seconds,
           cost=True),
    Metric("cpu_s", "CPU time", "s", "lower", lambda r: sum(e.cpu_s for e in r.epochs), seconds),
    Metric("train_flops", "training FLOPs", "FLOPs", "lower", lambda r: r.epochs[-1].train_flops if r.epochs else 0,
           human_count, cost=True),
    Metric("trainable_params", "trainable params", "", "lower", _last("trainable_params"), human_count, cost=True),
    Metric("total_params", "total params", "", "lower", _last("total_params"), human_count),
    Metric("peak_mem_bytes", "peak memory", "B", "lower",
           lambda r: max((e.peak_mem_bytes for e in r.epochs), default=None), lambda v: human_count(v, "B"),
           cost=True),
    Metric("throughput", "throughput", "img/s", "higher",
           lambda r: sum(e.throughput for e in r.epochs) / len(r.epochs) if r.epochs else None,
           lambda v: "-" if v is None else f"{v:.0f} img/s"),
    Metric("flops_per_s", "achieved FLOP/s", "FLOP/s", "higher", achieved_flops_per_s,
           lambda v: human_count(v, "FLOP/s")),
    Metric("peak_share", "share of peak", "", "higher", peak_share, small_percent, cost=True),
    Metric("time_to_target_s", "time to target", "s", "lower", _target("cum_s"), _not_reached(seconds), cost=True),
    Metric("flops_to_target", "FLOPs to target", "FLOPs", "lower", _target("train_flops"),
           _not_reached(human_count)),
    Metric("epochs_to_target", "epochs to target", "", "lower", _target("epoch"),
           _not_reached(lambda v: f"{v:.3g}")),  # a mean over seeds can fall between epochs
)

BUSY_SHARE = 0.25  # other programs using more than this share of the cores make wall seconds unfair


def machine_busy(record) -> str | None:
    """A sentence when other programs competed for the CPU during the run, else None."""
    timed = [(e.others_cpu_share, e.epoch_s) for e in record.epochs if e.others_cpu_share is not None]
    seconds_timed = sum(s for _, s in timed)
    if not timed or seconds_timed <= 0:
        return None
    share = sum(o * s for o, s in timed) / seconds_timed
    if share <= BUSY_SHARE:
        return None
    return (f"the machine was busy during the {record.role} run (other programs used {share:.0%} of its CPU); "
            f"compare FLOPs, not seconds")


def busy_now(share: float | None) -> str | None:
    """While a run trains: a few words when other programs use more than `BUSY_SHARE` of the cores, else None."""
    if share is None or share <= BUSY_SHARE:
        return None
    return f"machine busy: other programs use {share:.0%} of the CPU (seconds run slow; FLOPs do not)"


BY_KEY = {metric.key: metric for metric in METRICS}
ACCURACIES = tuple(m for m in METRICS if m.accuracy)
COSTS = tuple(m for m in METRICS if m.cost)


def metric(key: str) -> Metric:
    return BY_KEY[key]
