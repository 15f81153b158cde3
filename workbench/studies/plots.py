"""A study's figure: its plotted metric over the study's x axis, a curve per arm, each seed's spread as
error bars. Built from the result's dictionary, so a saved JSON result draws the same figure."""

from __future__ import annotations

import plotly.graph_objects as go

from workbench.core.metrics import metric as metric_spec


def study_figure(result: dict) -> go.Figure:
    key = result["metrics"][0]
    spec = metric_spec(key)
    scale = 100 if spec.accuracy else 1
    fig = go.Figure()
    for arm in dict.fromkeys(c["arm"] for c in result["cells"]):
        cells = [c for c in result["cells"] if c["arm"] == arm and c["metric"] == key]
        categorical = any(isinstance(c["x"], str) for c in cells)
        fig.add_trace(go.Scatter(
            x=[c["x"] for c in cells], y=[None if c["mean"] is None else scale * c["mean"] for c in cells],
            error_y={"type": "data", "array": [scale * (c["std"] or 0) for c in cells], "visible": True},
            name=arm, mode="lines+markers" if not categorical else "markers",
            hovertemplate=f"{arm}<br>{result['x']} %{{x}}<br>{spec.label} %{{y:.1f}}"
                          f"{'%' if spec.accuracy else ''} ± %{{error_y.array:.1f}}<extra></extra>"))
    seeds = len(result["seeds"])
    fig.update_layout(title=f"{result['title']}<br><sup>mean ± std over {seeds} seed{'s' * (seeds > 1)}"
                            f"{', quick settings' if result['quick'] else ''}</sup>",
                      xaxis_title=result["x"], yaxis_title=spec.label + (" (%)" if spec.accuracy else ""),
                      height=420, margin={"t": 70, "b": 50, "l": 70, "r": 20}, legend={"orientation": "h", "y": -0.2})
    xs = sorted({c["x"] for c in result["cells"]}, key=str)
    if all(isinstance(x, (int, float)) for x in xs):  # ticks at the settings that ran, not between them
        fig.update_xaxes(tickvals=sorted(xs), type="log" if result.get("log_x") else None)
    return fig
