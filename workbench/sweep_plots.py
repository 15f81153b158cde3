"""The heatmap of a two-setting sweep: one builder for the notebooks, the dashboard and its class board.

It takes comparisons (from `run_sweep`, or grouped from the store) and returns a ``go.Figure``;
each cell is a number the runs recorded (several comparisons on one cell are averaged).
"""

from __future__ import annotations

import plotly.graph_objects as go

from workbench.metrics import metric as metric_spec
from workbench.options import option
from workbench.sweep import grid_values

TITLES = {"transfer": "transfer", "scratch": "scratch", "gain": "transfer minus scratch"}


def sweep_heatmap(comparisons: list, parameter: str, parameter2: str, metric: str = "test_acc",
                  role: str = "transfer") -> go.Figure:
    """``metric`` of ``role`` ("transfer", "scratch" or "gain") over every pair of two swept settings.

    Settings are categorical axes (a value per tick, as the sidebar writes it); a gain is drawn on a
    diverging scale centred on zero, so where pre-training helped and where it hurt read apart.
    """
    xs, ys, cells = grid_values(comparisons, parameter, parameter2, metric, role)
    spec, first, second = metric_spec(metric), option(parameter), option(parameter2)
    text = [["" if v is None else _cell_text(v, spec, role) for v in row] for row in cells]
    gain = role == "gain"
    fig = go.Figure(go.Heatmap(
        x=[first.show(x) for x in xs], y=[second.show(y) for y in ys], z=cells, text=text, texttemplate="%{text}",
        colorscale="RdBu" if gain else "Viridis", zmid=0 if gain else None, hoverongaps=False,
        colorbar={"title": {"text": spec.label}, "tickformat": ".0%" if spec.unit == "" and spec.accuracy else None},
        hovertemplate=f"{first.label} %{{x}}<br>{second.label} %{{y}}<br>{spec.label} %{{text}}<extra></extra>"))
    fig.update_layout(title=f"{spec.label}: {TITLES[role]}", xaxis_title=first.label, yaxis_title=second.label,
                      height=380, margin={"t": 50, "b": 50, "l": 70, "r": 20})
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def _cell_text(value: float, spec, role: str) -> str:
    if role == "gain" and spec.accuracy:
        return f"{100 * value:+.1f} pts"
    return spec.format(value)
