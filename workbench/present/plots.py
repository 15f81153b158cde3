"""Plotly figure builders shared by the dashboard and the notebook widgets.

Each takes records or summaries (never a model) and returns a ``go.Figure``, so a chart looks the
same wherever it is shown, and every point on it is a number some run recorded.
"""

from __future__ import annotations

import pandas  # noqa: F401 - plotly imports pandas lazily; racing a training thread's import of it fails
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.core.metrics import COSTS, human_count
from workbench.core.metrics import metric as metric_spec
from workbench.present.report import missing_text
from workbench.spec.options import option

COLORS = {"transfer": "#1f77b4", "scratch": "#ff7f0e"}
PALETTE = ["#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
X_AXES = {"epoch": ("epoch", "epoch"), "seconds": ("cum_s", "wall-clock seconds"),
          "flops": ("train_flops", "training FLOPs")}
EPOCH_LABELS = 20  # up to this many epochs each gets a label; past it plotly picks whole-number steps


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


def _not_run(summary: dict, live: bool = False) -> list[tuple[str, str]]:
    """A comparison summary's runs that never started, with what to say: [('scratch', 'not run (stopped)')]."""
    roles = [role for role in COLORS if role in summary and not summary[role]]
    return [(role, "not started yet" if live else missing_text(summary, role)) for role in roles]


def learning_curves(summary: dict, x_axis: str = "epoch", live: bool = False) -> go.Figure:
    """Accuracy and loss per epoch, runs overlaid (transfer vs scratch, or any {label: run summary});
    validation solid, training dotted. A run of a comparison that never started is a legend entry saying
    so ('scratch: not run (stopped)'; 'not started yet' while the comparison is ``live``)."""
    key, title = X_AXES[x_axis]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1)  # the y axes say accuracy and loss
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
    for role, text in _not_run(summary, live):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"{role}: {text}", hoverinfo="skip",
                                 line={"color": COLORS[role], "dash": "dot"}), row=1, col=1)
    target = next((run.get("target_acc") for _, run in _curves(summary)), None)
    xs = [e[key] for _, run in _curves(summary) for e in run["epochs"]]
    if target and xs:  # a legend entry, not a label on the chart, where it would sit on a curve
        fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[target, target], mode="lines",
                                 name=f"target {100 * target:.0f}%", hoverinfo="skip",
                                 line={"dash": "dash", "color": "gray", "width": 1}), row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title_text="accuracy", row=1, col=1)
    fig.update_yaxes(title_text="loss", row=1, col=2)
    fig.update_xaxes(title_text=title)
    if x_axis == "epoch":  # whole epochs; a label for each only while they fit (300 labels froze the browser)
        fig.update_xaxes(tickformat="d", dtick=1 if max(xs, default=0) <= EPOCH_LABELS else None)
    if x_axis == "flops":
        fig.update_xaxes(exponentformat="SI")
    # The legend on top: at 1280x800 a legend under the x axis fell below the fold, and with it the axis.
    fig.update_layout(height=360, margin={"t": 30, "b": 45, "l": 60, "r": 20},
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.01, "yanchor": "bottom"})
    return fig


def cost_bars(summary: dict) -> go.Figure:
    """What each run cost: one row per measure, runs as horizontal bars labelled with the exact value.

    Horizontal bars keep every label level and readable in a narrow column; a measure no run has
    (time to target when neither reached it) gets no row rather than an empty panel. A run its comparison
    never started has no bar, its label says so ('not run (stopped)').
    """
    runs = _curves(summary)
    shown = [m for m in COSTS if any(run.get(m.key) is not None for _, run in runs)]
    not_run = dict(_not_run(summary))  # {role: 'not run (stopped)'}: a row with no bar, only its label
    runs += [(role, {}) for role in not_run]
    fig = make_subplots(rows=max(len(shown), 1), cols=1, subplot_titles=[m.label for m in shown],
                        vertical_spacing=0.5 / max(len(shown), 1))
    for row, metric in enumerate(shown, start=1):
        values = [run.get(metric.key) for _, run in runs]
        for index, ((role, _), value) in enumerate(zip(runs, values)):
            label = not_run.get(role) or metric.format(value)
            fig.add_trace(go.Bar(y=[role], x=[value or 0], orientation="h", name=role, showlegend=False,
                                 marker_color=COLORS.get(role, PALETTE[index % len(PALETTE)]),
                                 text=[label], textposition="outside", cliponaxis=False,
                                 hovertemplate=f"{role}: {label}<extra>{metric.label}</extra>"),
                          row=row, col=1)
        fig.update_xaxes(range=[0, 1.45 * max((v or 0 for v in values), default=0) or 1], row=row, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(autorange="reversed")
    fig.update_annotations(font_size=12, x=0, xanchor="left")
    fig.update_layout(height=40 + 78 * len(shown), margin={"t": 30, "b": 10, "l": 70, "r": 10}, bargap=0.25)
    busy = [role for role, run in runs if run.get("machine_busy")]
    if busy:  # said on the chart itself: a notebook cell that shows only the figure must not compare seconds in silence
        fig.update_layout(title={"text": f"⚠ the machine was busy during {', '.join(busy)}: its seconds are not "
                                         f"comparable; compare FLOPs", "font": {"size": 12, "color": "#b35900"},
                                 "x": 0, "xanchor": "left", "y": 1, "yanchor": "top", "pad": {"t": 6}},
                          height=65 + 78 * len(shown), margin={"t": 55})
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


def both_predictions(top: dict[str, list[tuple[str, float]]], classes: int) -> go.Figure:
    """Play: each network's top classes for one frame, side by side in its own colour, on a fixed 0-100% axis (so
    that a bar's length, frame after frame, is comparable)."""
    fig = make_subplots(rows=1, cols=len(top), subplot_titles=[f"{role}: {ranked[0][0]}" if ranked else role
                                                               for role, ranked in top.items()],
                        horizontal_spacing=0.2)
    for col, (role, ranked) in enumerate(top.items(), start=1):
        fig.add_trace(go.Bar(x=[p for _, p in ranked][::-1], y=[fit_label(c, 16) for c, _ in ranked][::-1],
                             orientation="h", marker_color=COLORS[role], showlegend=False,
                             text=[f"{p:.0%}" for _, p in ranked][::-1], textposition="auto"), row=1, col=col)
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(height=90 + 34 * min(3, classes), margin={"t": 40, "b": 25, "l": 10, "r": 20})
    return fig


LABEL_CHARS = 17  # what fits over an image of a grid eight wide in an 800 px chart, at 10 px type


def fit_label(label: str, width: int = LABEL_CHARS) -> str:
    """A label cut to lines that fit over its image: 'transfer: immunohistochemistry 100%' overlapped its
    neighbours; now 'transfer:<br>immunohistoche… 100%'. Lines break at '<br>' and after ': '; a word too long
    for a line keeps its start."""
    lines = []
    for line in label.replace(": ", ":<br>").split("<br>"):
        words, current = [], ""
        for word in line.split(" "):
            if len(word) > width - 5:
                word = word[:width - 6] + "…"
            if current and len(current) + 1 + len(word) > width:
                words.append(current)
                current = word
            else:
                current = f"{current} {word}".strip()
        lines += [*words, current]
    return "<br>".join(lines)


def image_grid(images, labels: list[str], columns: int = 8, title: str | None = None) -> go.Figure:
    """A few uint8 (N, 3, H, W) images with their labels (cut to fit, `fit_label`), and an optional title above."""
    count = len(labels)
    rows = max(1, -(-count // columns))
    labels = [fit_label(label) if columns > 3 else label for label in labels]
    lines = max((label.count("<br>") + 1 for label in labels), default=1)
    label_px = 13 * lines
    height = rows * (110 + label_px) + 20 + label_px + (30 if title else 0)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=labels, horizontal_spacing=0.01,
                        vertical_spacing=min(0.3, (label_px + 8) / height))
    for i in range(count):
        fig.add_trace(go.Image(z=images[i].permute(1, 2, 0).numpy()), row=i // columns + 1, col=i % columns + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=10)
    fig.update_layout(height=height, margin={"t": label_px + 8 + (30 if title else 0), "b": 10, "l": 10, "r": 10},
                      title={"text": title, "y": 1, "yanchor": "top", "pad": {"t": 8}} if title else None)
    return fig


def sweep_curve(points: list[dict], parameter: str, metric: str = "test_acc") -> go.Figure:
    """Final accuracy of transfer and scratch against a swept setting (one point per comparison), with
    error bars of one standard deviation where the comparisons ran several seeds.

    Ticks sit at the values that ran, written as the sidebar writes them; rates (and values spread
    over decades) get a log axis, choices a categorical one.
    """
    spec = option(parameter)
    fig = go.Figure()
    for role in ("transfer", "scratch"):
        rows = sorted(((p[parameter], p[role][metric], p[role].get(f"{metric}_std"))
                       for p in points if p.get(role) and p[role].get(metric) is not None),
                      key=lambda r: (r[0] is None, r[0]))  # None ("every image") after the numbers
        if rows:
            spread = [r[2] or 0.0 for r in rows]  # several seeds: one standard deviation either side
            fig.add_trace(go.Scatter(x=[r[0] for r in rows], y=[r[1] for r in rows], mode="lines+markers",
                                     name=role, line={"color": COLORS[role]},
                                     error_y={"type": "data", "array": spread, "visible": any(spread)}))
    fig.update_layout(xaxis_title=spec.label, yaxis_title=metric_spec(metric).label, height=340,
                      yaxis={"tickformat": ".0%", "range": [0, 1.02]}, margin={"t": 30, "b": 40, "l": 50, "r": 20})
    values = sorted({p[parameter] for p in points} - {None})
    if spec.kind == "choice":
        fig.update_xaxes(type="category")
    elif values:
        spread = values[0] > 0 and values[-1] / values[0] >= 20
        fig.update_xaxes(type="log" if spec.kind == "logfloat" or spread else "linear",
                         tickvals=values, ticktext=[spec.show(v) for v in values])
    return fig


def confusion_heatmap(confusion: list[list[int]], classes: list[str], title: str = "") -> go.Figure:
    """Counts of (true, predicted) test images; every class named on both axes (long names cut, whole on hover), cells
    at least 26 px, so that a count stays readable beside 'immunohistochemistry'."""
    short = [name if len(name) <= 12 else name[:11] + "…" for name in classes]
    if len(set(short)) < len(short):  # two names alike in their first letters: whole names, not one cell for both
        short = list(classes)
    fig = go.Figure(go.Heatmap(z=confusion, x=short, y=short, colorscale="Blues", text=confusion, texttemplate="%{text}",
                               textfont={"size": 12}, showscale=False, customdata=[[(t, p) for p in classes]
                                                                                    for t in classes],
                               hovertemplate="true %{customdata[0]}, predicted %{customdata[1]}: %{z}<extra></extra>"))
    side = max(26 * len(classes), 200)
    fig.update_layout(title=title, yaxis_autorange="reversed", height=side + 150,
                      xaxis={"title": "predicted", "tickangle": -45, "type": "category", "automargin": True},
                      yaxis={"title": "true", "type": "category", "automargin": True},
                      margin={"t": 40, "b": 20, "l": 20, "r": 20})
    return fig


def per_class_accuracy(summaries: dict[str, tuple[list[float], list[str]]]) -> go.Figure:
    """Test accuracy of each class, one bar group per run: {role: (accuracies, classes)}."""
    fig = go.Figure()
    for role, (accuracies, classes) in summaries.items():
        fig.add_trace(go.Bar(x=classes, y=accuracies, name=role, marker_color=COLORS.get(role)))
    fig.update_layout(barmode="group", yaxis={"tickformat": ".0%", "range": [0, 1.02], "title": "test accuracy"},
                      title="accuracy of each class on the test split", height=320,
                      margin={"t": 40, "b": 40, "l": 50, "r": 20})
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
    """The backbone's stages in order, then the new head: frozen grey, trainable coloured, on a log scale
    of parameters (stages differ a hundredfold). The head always trains, even at full freeze depth."""
    names = list(stage_params) + (["head (new)"] if head_params is not None else [])
    counts = list(stage_params.values()) + ([head_params] if head_params is not None else [])
    frozen = [i < freeze_depth for i in range(len(names))]
    fig = go.Figure(go.Bar(
        x=[max(c, 1) for c in counts], y=names, orientation="h",
        marker_color=["#b0b0b0" if f else COLORS["transfer"] for f in frozen],
        text=[f"{human_count(c)} {'frozen' if f else 'trains'}" for c, f in zip(counts, frozen)],
        textposition="auto", hovertext=[f"{n}: {c:,} parameters" for n, c in zip(names, counts)], hoverinfo="text",
    ))
    fig.update_layout(height=70 + 24 * len(names), yaxis={"autorange": "reversed"}, showlegend=False,
                      xaxis={"type": "log", "title": {"text": "parameters (log scale)", "font": {"size": 11}},
                             "dtick": 1, "tickfont": {"size": 10}, "exponentformat": "SI"},
                      margin={"t": 5, "b": 5, "l": 5, "r": 5})
    return fig
