"""How the backbone explorer's rows look: one table and one chart for the CLI, the dashboard and the widget.

The chart: left, ImageNet top-1 against a cost (measured latency by default), marker area by
parameters: the models up and to the left are accurate and cheap. Right, one number per backbone
as bars. Both take the rows of `workbench.explorer.measure` (never a model), so they look the same on every face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.core.metrics import human_count
from workbench.explorer.measure import LATENCY_RUNS, TRAIN_BATCH, TRAIN_STEPS, WARMUP, busy_machine

# key -> (axis title, name in a hover, how a value is shown there)
AXES = {
    "latency_ms": ("inference latency per image, batch 1 (ms, this machine)", "latency", lambda v: f"{v:.1f} ms"),
    "forward_flops": ("forward FLOPs per image", "forward", lambda v: human_count(v, "FLOPs")),
    "file_bytes": ("model file size (bytes)", "file", lambda v: human_count(v, "B")),
    "params": ("parameters", "params", human_count),
}
BARS = {
    "train_img_s": ("training throughput (img/s, this machine; higher is better)", lambda v: f"{v:.1f}"),
    "file_bytes": ("model file size (MB)", lambda v: f"{v / 2**20:.0f}"),
}
WEIGHT_COLORS = {"shipped": "#2ca02c", "cached": "#1f77b4", "missing": "#7f7f7f"}
WEIGHT_LABELS = {"shipped": "weights ship with pip", "cached": "weights downloaded",
                 "missing": "weights not downloaded (workbench weights fetch)"}
AUTO = "auto"  # latency and throughput once measured, FLOPs and file size before


def x_axis_choices() -> list[tuple[str, str]]:
    """(label, key) pairs a picker offers for the scatter's x axis."""
    return [("measured latency, once measured", AUTO), *[(title, key) for key, (title, *_) in AXES.items()]]


def default_axes(rows: list[dict]) -> tuple[str, str]:
    """Measured numbers once every backbone has them; before that, what needs no measuring."""
    measured = bool(rows) and all(row.get("latency_ms") is not None for row in rows)
    return ("latency_ms", "train_img_s") if measured else ("forward_flops", "file_bytes")


PLOT_PX = (560, 380)  # the scatter's plotting area in a 1280 px wide page: where names fit is judged in pixels
CHAR_PX, LINE_PX = 6.5, 14  # a name's size at font size 11


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label_sides(points: list[tuple[str, float, float, float]]) -> dict[str, str]:
    """Each name on the first side of its point where it stays inside and covers no marker or earlier name.

    ``points`` are (name, x, y, marker px) with x and y as fractions of the plotting area.
    """
    width, height = PLOT_PX
    spots = [(name, x * width, y * height, size / 2) for name, x, y, size in points]
    taken = [(px - r, py - r, px + r, py + r) for _, px, py, r in spots]
    sides = {}
    for name, px, py, r in spots:
        w, h = CHAR_PX * len(name), LINE_PX
        boxes = {"top center": (px - w / 2, py + r, px + w / 2, py + r + h),
                 "bottom center": (px - w / 2, py - r - h, px + w / 2, py - r),
                 "middle right": (px + r, py - h / 2, px + r + w, py + h / 2),
                 "middle left": (px - r - w, py - h / 2, px - r, py + h / 2)}
        fits = [side for side, box in boxes.items() if box[0] >= 0 and box[2] <= width and box[3] <= height]
        sides[name] = next((side for side in fits if not any(_overlap(boxes[side], t) for t in taken)),
                           (fits or ["top center"])[0])
        taken.append(boxes[sides[name]])
    return sides


def _padded(low: float, high: float, share: float) -> list[float]:
    pad = share * max(high - low, 1.0)
    return [low - pad, high + pad]


def _marker_size(params: int) -> float:
    """Marker area in proportion to parameters: 2.5M -> 9 px across, 138M -> 60 px."""
    return 8 * math.sqrt(params / 2e6)


def backbone_chart(rows: list[dict], x: str = AUTO, bars: str = AUTO) -> go.Figure:
    """Top-1 vs ``x`` (a point per backbone that has both), and ``bars`` for every backbone that has it."""
    x_default, bars_default = default_axes(rows)
    x, bars = x_default if x == AUTO else x, bars_default if bars == AUTO else bars
    x_title, x_name, x_text = AXES[x]
    bar_title, bar_text = BARS[bars]
    size = rows[0]["image_size"] if rows else None
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.16,
                        subplot_titles=(f"ImageNet top-1 vs cost at {size} px", bar_title))
    drawn = [r for r in rows if r.get(x) is not None and r["top1"] is not None]
    x_range = y_range = None
    if drawn:
        x_range = _padded(min(math.log10(r[x]) for r in drawn), max(math.log10(r[x]) for r in drawn), 0.1)
        y_range = _padded(min(r["top1"] for r in drawn), max(r["top1"] for r in drawn), 0.12)
    sides = _label_sides([(r["name"], (math.log10(r[x]) - x_range[0]) / (x_range[1] - x_range[0]),
                           (r["top1"] - y_range[0]) / (y_range[1] - y_range[0]), _marker_size(r["params"]))
                          for r in drawn])
    for state, color in WEIGHT_COLORS.items():
        points = [r for r in drawn if r["weights"] == state]
        if not points:
            continue
        fig.add_trace(go.Scatter(
            x=[r[x] for r in points], y=[r["top1"] for r in points], mode="markers+text", name=WEIGHT_LABELS[state],
            text=[r["name"] for r in points], textposition=[sides[r["name"]] for r in points], textfont={"size": 11},
            marker={"size": [_marker_size(r["params"]) for r in points], "color": color, "opacity": 0.7,
                    "line": {"width": 1, "color": "white"}},
            customdata=[[human_count(r["params"]), x_text(r[x]), r["top1_source"]] for r in points],
            hovertemplate=f"<b>%{{text}}</b><br>top-1 %{{y:.1f}}%<br>{x_name} "
                          "%{customdata[1]}<br>params %{customdata[0]}<br>top-1 from %{customdata[2]}"
                          "<extra></extra>"), row=1, col=1)
    shown = sorted((r for r in rows if r.get(bars) is not None), key=lambda r: r[bars])
    fig.add_trace(go.Bar(
        x=[r[bars] for r in shown], y=[r["name"] for r in shown], orientation="h", showlegend=False,
        marker={"color": [WEIGHT_COLORS[r["weights"]] for r in shown]},
        text=[bar_text(r[bars]) for r in shown], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{text}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(type="log", title_text=x_title + " (log scale)", range=x_range, row=1, col=1)
    fig.update_yaxes(title_text="ImageNet top-1 (%), as published", range=y_range, row=1, col=1)
    fig.update_xaxes(showticklabels=False, row=1, col=2)
    fig.update_layout(height=520, margin={"t": 60, "b": 60, "l": 70, "r": 40},
                      legend={"orientation": "h", "y": -0.14, "x": 0})
    return fig


# --- the table ----------------------------------------------------------------------------------------

def _file(row: dict) -> str:
    shown = f"{row['file_bytes'] / 2**20:.0f} MB"
    return shown if row["file_size_source"] == "file" else f"{shown} ({row['file_size_source']})"


def _maybe(text: Callable[[float], str], key: str) -> Callable[[dict], str]:
    return lambda row: "-" if row.get(key) is None else text(row[key])


@dataclass(frozen=True)
class Column:
    label: str
    render: Callable[[dict], str]


COLUMNS: tuple[Column, ...] = (
    Column("backbone", lambda row: row["name"]),
    Column("params", lambda row: human_count(row["params"])),
    Column("stages", lambda row: str(len(row["stages"]))),
    Column("forward FLOPs", lambda row: human_count(row["forward_flops"])),
    Column("model file", _file),
    Column("ImageNet top-1", _maybe(lambda v: f"{v:.1f}%", "top1")),
    Column("weights", lambda row: row["weights"]),
    Column("latency ms/img", _maybe(lambda v: f"{v:.1f}", "latency_ms")),
    Column("training img/s", _maybe(lambda v: f"{v:.1f}", "train_img_s")),
)


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, one list of cells per backbone): what the terminal, the dashboard and the widget print."""
    return [c.label for c in COLUMNS], [[c.render(row) for c in COLUMNS] for row in rows]


def text_table(rows: list[dict]) -> str:
    header, cells = table_cells(rows)
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(text.ljust(w) if i == 0 else text.rjust(w) for i, (text, w) in enumerate(zip(line, widths)))
             for line in [header, *cells]]
    return "\n".join(lines)


def notes(rows: list[dict]) -> list[str]:
    """Where each number comes from, in the words every face prints under the table."""
    size = rows[0]["image_size"] if rows else "?"
    lines = [f"forward FLOPs: counted at {size} px with the ImageNet head; a multiply-add is 2 FLOPs.",
             "model file: the weights file on this machine; '(download)': the size torchvision publishes.",
             "ImageNet top-1: as published with the weights (torchvision's metadata; EfficientNet-Lite: its "
             "authors' table for the TensorFlow checkpoints these were converted from)."]
    measured = [row for row in rows if row.get("latency_ms") is not None]
    if measured:
        lines.append(
            f"measured on this machine ({measured[0]['device']}, {measured[0]['threads']} threads), random weights "
            f"(timing does not depend on their values, so backbones without weights measure too): latency is the "
            f"median of {LATENCY_RUNS} batch-1 forward passes after {WARMUP} warm-up; training is {TRAIN_STEPS} full "
            f"fine-tuning steps of {TRAIN_BATCH} images (AdamW) after {WARMUP} warm-up. Anything else running on "
            f"this machine slows them down.")
        lines.append(busy_machine(rows) or "")
    return [line for line in lines if line]
