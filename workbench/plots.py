"""Plotly figure builders shared by the dashboard and the notebook widgets.

Each takes records or summaries (never a model) and returns a ``go.Figure``, so a chart looks the
same wherever it is shown, and every point on it is a number some run recorded.
"""

from __future__ import annotations

import math

import pandas  # noqa: F401 - plotly imports pandas lazily; racing a training thread's import of it fails
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.report import human_count

COLORS = {"transfer": "#1f77b4", "scratch": "#ff7f0e"}
PALETTE = ["#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
X_AXES = {"epoch": ("epoch", "epoch"), "seconds": ("cum_s", "wall-clock seconds"),
          "flops": ("train_flops", "training FLOPs")}


def _band(x: list, mean: list, std: list, color: str, name: str, row: int, col: int, fig: go.Figure) -> None:
    """Mean +/- one standard deviation as a shaded band (only where several seeds ran)."""
    upper = [m + s for m, s in zip(mean, std)]
    lower = [m - s for m, s in zip(mean, std)]
    fig.add_trace(go.Scatter(x=x + x[::-1], y=upper + lower[::-1], fill="toself", fillcolor=color, opacity=0.15,
                             line={"width": 0}, hoverinfo="skip", showlegend=False, name=f"{name} spread"),
                  row=row, col=col)


def _curves(summary: dict) -> list[tuple[str, dict]]:
    """The (label, run summary) pairs of a comparison summary or of any {label: summary} dict."""
    return [(label, run) for label, run in summary.items() if isinstance(run, dict) and run.get("epochs")]


def learning_curves(summary: dict, x_axis: str = "epoch") -> go.Figure:
    """Accuracy and loss per epoch, runs overlaid (transfer vs scratch, or any {label: run summary});
    validation solid, training dotted."""
    key, title = X_AXES[x_axis]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy", "loss"), horizontal_spacing=0.1)
    for index, (role, run) in enumerate(_curves(summary)):
        epochs = run["epochs"]
        x = [e[key] for e in epochs]
        color = COLORS.get(role, PALETTE[index % len(PALETTE)])
        for col, metric in ((1, "acc"), (2, "loss")):
            for split, dash in (("val", "solid"), ("train", "dot")):
                name = f"val_{metric}" if split == "val" else f"train_{metric}"
                y = [e[name] for e in epochs]
                if f"{name}_std" in epochs[0]:
                    _band(x, y, [e[f"{name}_std"] or 0.0 for e in epochs], color, role, 1, col, fig)
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=f"{role} {split}",
                                         legendgroup=f"{role} {split}", showlegend=col == 1,
                                         line={"color": color, "dash": dash}), row=1, col=col)
    target = next((run.get("target_acc") for _, run in _curves(summary)), None)
    if target:
        fig.add_hline(y=target, line={"dash": "dash", "color": "gray", "width": 1}, row=1, col=1,
                      annotation_text=f"target {100 * target:.0f}%", annotation_position="bottom right")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text=title)
    if x_axis == "epoch":
        fig.update_xaxes(dtick=1)
    if x_axis == "flops":
        fig.update_xaxes(exponentformat="SI")
    fig.update_layout(height=380, margin={"t": 40, "b": 40, "l": 40, "r": 20}, legend={"orientation": "h", "y": -0.25})
    return fig


COST_PANELS = (
    ("wall_s", "wall time, s"),
    ("train_flops", "training FLOPs"),
    ("trainable_params", "trainable params"),
    ("peak_mem_bytes", "peak memory, B"),
    ("time_to_target_s", "to target, s"),
)


def cost_bars(summary: dict) -> go.Figure:
    """What each run cost, one small panel per measure, runs side by side."""
    runs = _curves(summary)
    fig = make_subplots(rows=1, cols=len(COST_PANELS), subplot_titles=[t for _, t in COST_PANELS])
    for col, (key, _) in enumerate(COST_PANELS, start=1):
        for index, (role, run) in enumerate(runs):
            value = run.get(key)
            fig.add_trace(go.Bar(x=[role], y=[value or 0], marker_color=COLORS.get(role, PALETTE[index % len(PALETTE)]),
                                 showlegend=False, text=["not reached" if value is None else human_count(value)],
                                 textposition="auto", name=role), row=1, col=col)
    fig.update_yaxes(exponentformat="SI")
    fig.update_annotations(font_size=12)
    fig.update_layout(height=300, margin={"t": 40, "b": 30, "l": 40, "r": 20})
    return fig


def imagenet_predictions(predictions: dict[str, list[tuple[str, float]]]) -> go.Figure:
    """Top ImageNet classes of a few photos, one panel each: what the backbone knows before transfer."""
    fig = make_subplots(rows=1, cols=len(predictions), subplot_titles=list(predictions), horizontal_spacing=0.25)
    for col, top in enumerate(predictions.values(), start=1):
        fig.add_trace(go.Bar(x=[p for _, p in top][::-1], y=[c for c, _ in top][::-1], orientation="h",
                             marker_color=COLORS["transfer"], showlegend=False), row=1, col=col)
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(height=280, margin={"t": 40, "b": 30, "l": 10, "r": 20})
    return fig


def image_grid(images, labels: list[str], columns: int = 8) -> go.Figure:
    """A few uint8 (N, 3, H, W) images with their labels, to look at the data before training on it."""
    count = len(labels)
    rows = max(1, -(-count // columns))
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=labels, horizontal_spacing=0.01, vertical_spacing=0.08)
    for i in range(count):
        fig.add_trace(go.Image(z=images[i].permute(1, 2, 0).numpy()), row=i // columns + 1, col=i % columns + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=10)
    fig.update_layout(height=130 * rows + 40, margin={"t": 30, "b": 10, "l": 10, "r": 10})
    return fig


def sweep_curve(points: list[dict], parameter: str, metric: str = "test_acc") -> go.Figure:
    """Final accuracy of transfer and scratch against a swept setting (one point per comparison)."""
    fig = go.Figure()
    for role in ("transfer", "scratch"):
        rows = sorted((p[parameter], p[role][metric]) for p in points if p.get(role) and p[role].get(metric) is not None)
        if rows:
            fig.add_trace(go.Scatter(x=[r[0] for r in rows], y=[r[1] for r in rows], mode="lines+markers",
                                     name=role, line={"color": COLORS[role]}))
    fig.update_layout(xaxis_title=parameter.replace("_", " "), yaxis_title=metric.replace("_", " "), height=340,
                      yaxis={"tickformat": ".0%", "range": [0, 1.02]}, margin={"t": 30, "b": 40, "l": 50, "r": 20})
    if parameter in ("lr", "scratch_lr") or (parameter == "train_per_class" and len(points) > 2):
        fig.update_xaxes(type="log")
    return fig


def confusion_heatmap(confusion: list[list[int]], classes: list[str], title: str = "") -> go.Figure:
    fig = go.Figure(go.Heatmap(z=confusion, x=classes, y=classes, colorscale="Blues", text=confusion,
                               texttemplate="%{text}", showscale=False))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                      height=320, margin={"t": 40, "b": 40, "l": 60, "r": 20})
    return fig


def per_class_accuracy(summaries: dict[str, tuple[list[float], list[str]]]) -> go.Figure:
    """Test accuracy of each class, one bar group per run: {role: (accuracies, classes)}."""
    fig = go.Figure()
    for role, (accuracies, classes) in summaries.items():
        fig.add_trace(go.Bar(x=classes, y=accuracies, name=role, marker_color=COLORS.get(role)))
    fig.update_layout(barmode="group", yaxis={"tickformat": ".0%", "range": [0, 1.02]}, height=300,
                      margin={"t": 30, "b": 40, "l": 50, "r": 20})
    return fig


def lr_finder_curve(lrs: list[float], losses: list[float], suggested: float) -> go.Figure:
    fig = go.Figure(go.Scatter(x=lrs, y=losses, mode="lines", name="smoothed loss"))
    fig.add_vline(x=suggested, line={"dash": "dash", "color": "green"},
                  annotation_text=f"suggested {suggested:.1e}")
    fig.update_xaxes(type="log", title_text="learning rate")
    fig.update_yaxes(title_text="training loss")
    fig.update_layout(height=320, margin={"t": 30, "b": 40, "l": 50, "r": 20})
    return fig


def stage_map(stage_params: dict[str, int], freeze_depth: int, head_params: int | None = None) -> go.Figure:
    """The backbone's stages in order, frozen ones grey, trainable ones coloured, sized by parameters."""
    names = list(stage_params) + (["head"] if head_params is not None else [])
    counts = list(stage_params.values()) + ([head_params] if head_params is not None else [])
    frozen = [i < freeze_depth for i in range(len(names))]
    fig = go.Figure(go.Bar(
        x=[max(math.log10(c + 1), 0.3) for c in counts], y=names, orientation="h",
        marker_color=["#b0b0b0" if f else COLORS["transfer"] for f in frozen],
        text=[f"{human_count(c)} {'frozen' if f else 'trains'}" for c, f in zip(counts, frozen)],
        textposition="auto", hovertext=[f"{n}: {c:,} parameters" for n, c in zip(names, counts)], hoverinfo="text",
    ))
    fig.update_layout(height=40 + 26 * len(names), xaxis={"visible": False}, yaxis={"autorange": "reversed"},
                      margin={"t": 10, "b": 10, "l": 10, "r": 10}, showlegend=False)
    return fig
