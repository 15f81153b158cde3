"""Predictions beside results: one student's guesses against what ran, and the class's, point by point.

Shared by the comparison view, the class board, the notebook panel and the tutorials' "predict first" cells. Names
and reasons are typed by students: they reach a chart only as escaped text.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from workbench.present.plots import COLORS

PREDICTED = "#9e9e9e"


def prediction_beside_result(pairs: dict[str, tuple[float | None, float | None]], title: str = "") -> go.Figure:
    """Each quantity (an accuracy, 0..1) as two bars: what was predicted and what was measured."""
    labels = [html.escape(label) for label in pairs]
    fig = go.Figure()
    for index, (name, color) in enumerate((("predicted", PREDICTED), ("measured", COLORS["transfer"]))):
        values = [pair[index] for pair in pairs.values()]
        fig.add_trace(go.Bar(x=labels, y=values, name=name, marker_color=color,
                             marker_pattern_shape="/" if name == "predicted" else "",
                             text=["-" if v is None else f"{100 * v:.0f} %" for v in values], textposition="outside"))
    fig.update_layout(barmode="group", height=300, margin={"t": 40 if title else 10, "b": 10, "l": 10, "r": 10},
                      yaxis={"title": "accuracy", "range": [0, 1.12], "tickformat": ".0%"},
                      title=html.escape(title) or None, legend={"orientation": "h", "y": 1.1})
    return fig


def predicted_vs_measured(points: list[dict]) -> go.Figure:
    """The class's predictions against the results: one point per student and network (``who``, ``role``,
    ``predicted``, ``measured``), with the diagonal where a prediction was exactly right."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "#888"},
                             name="predicted = measured", hoverinfo="skip"))
    for role in ("transfer", "scratch"):
        mine = [p for p in points if p["role"] == role and p["measured"] is not None]
        fig.add_trace(go.Scatter(
            x=[p["measured"] for p in mine], y=[p["predicted"] for p in mine], mode="markers", name=role,
            marker={"color": COLORS[role], "size": 11, "line": {"width": 1, "color": "white"}},
            text=[html.escape(p["who"]) for p in mine],
            hovertemplate="%{text}<br>measured %{x:.0%}<br>predicted %{y:.0%}<extra>" + role + "</extra>"))
    fig.update_layout(height=420, margin={"t": 10, "b": 10, "l": 10, "r": 10},
                      xaxis={"title": "measured test accuracy", "range": [0, 1.02], "tickformat": ".0%"},
                      yaxis={"title": "predicted test accuracy", "range": [0, 1.02], "tickformat": ".0%"},
                      legend={"orientation": "h", "y": 1.08})
    return fig
