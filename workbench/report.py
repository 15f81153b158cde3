"""Plain-text renderings of records for the terminal: the side-by-side table and run lists."""

from __future__ import annotations


def human_count(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{suffix}{unit}"
    return f"{value:.0f}{unit}"


def backbone_label(name: str) -> str:
    """'resnet18 (11.7M params, download)': what a backbone picker shows."""
    from workbench.backbones import get_backbone

    backbone = get_backbone(name)
    where = "offline" if backbone.weights_available_offline() else "download"
    return f"{name} ({human_count(backbone.total_params())} params, {where})"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


ROWS = (
    ("best val acc", "best_val_acc", _percent),
    ("final val acc", "final_val_acc", _percent),
    ("test acc", "test_acc", _percent),
    ("wall time", "wall_s", lambda v: f"{v:.1f} s"),
    ("training FLOPs", "train_flops", human_count),
    ("trainable params", "trainable_params", human_count),
    ("total params", "total_params", human_count),
    ("peak memory", "peak_mem_bytes", lambda v: human_count(v, "B")),
    ("throughput", "throughput", lambda v: "-" if v is None else f"{v:.0f} img/s"),
    ("time to target", "time_to_target_s", _seconds),
    ("FLOPs to target", "flops_to_target", lambda v: "not reached" if v is None else human_count(v)),
)


def verdict(transfer: dict, scratch: dict) -> str:
    """One sentence on who reached the target accuracy first, with the ratio written out."""
    target = f"{100 * transfer['target_acc']:.0f}%"
    t, s = transfer.get("time_to_target_s"), scratch.get("time_to_target_s")
    if t is not None and s is not None:
        faster, slower, who = (t, s, "transfer") if t <= s else (s, t, "scratch")
        return f"{who} reached {target} val acc {slower / max(faster, 1e-9):.1f}x sooner ({faster:.1f} s vs {slower:.1f} s)"
    if t is not None:
        return f"transfer reached {target} val acc in {t:.1f} s; scratch never did in {scratch['wall_s']:.1f} s"
    if s is not None:
        return f"scratch reached {target} val acc in {s:.1f} s; transfer never did in {transfer['wall_s']:.1f} s"
    return f"neither run reached {target} val acc"


def comparison_rows(summary: dict) -> list[tuple[str, str, str]]:
    """(measure, transfer, scratch) as displayed text; a missing run shows as '-'."""
    transfer, scratch = summary.get("transfer") or {}, summary.get("scratch") or {}
    return [(label, render(transfer.get(key)) if transfer else "-", render(scratch.get(key)) if scratch else "-")
            for label, key, render in ROWS]


def comparison_table(summary: dict) -> str:
    lines = [f"{'':18}{'transfer':>16}{'scratch':>16}"]
    lines += [f"{label:18}{t:>16}{s:>16}" for label, t, s in comparison_rows(summary)]
    lines.append(verdict(summary["transfer"], summary["scratch"]))
    return "\n".join(lines)


def runs_table(records: list, problems: dict[str, str]) -> str:
    lines = [f"{'run id':32}{'role':10}{'status':12}{'backbone':20}{'dataset':14}{'epochs':>7}{'test acc':>10}"]
    for record in records:
        lines.append(
            f"{record.run_id:32}{record.role:10}{record.status:12}{str(record.config.get('backbone')):20}"
            f"{str(record.config.get('dataset'))[:13]:14}{len(record.epochs):>7}{_percent(record.test_acc):>10}"
        )
    for run_id, problem in problems.items():
        lines.append(f"{run_id:32}{'?':10}{'unreadable':12}{problem}")
    return "\n".join(lines)
