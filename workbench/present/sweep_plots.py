"""The heatmap of a two-setting sweep: one builder for the notebooks, the dashboard and its class board.

It takes comparisons (from `run_sweep`, or grouped from the store) and returns a ``go.Figure``;
each cell is a number the runs recorded (several comparisons on one cell are averaged).
"""

from __future__ import annotations

import statistics

import plotly.graph_objects as go

from workbench.core.errors import ConfigError
from workbench.core.metrics import BY_KEY
from workbench.core.metrics import metric as metric_spec
from workbench.spec.options import option

ROLES = ("transfer", "scratch", "gain")  # what a grid cell shows: one run, or what pre-training bought
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
    low, high, ticks = colour_range([v for row in cells for v in row if v is not None], spec, role)
    fig = go.Figure(go.Heatmap(
        x=axis_labels(xs, first), y=axis_labels(ys, second), z=cells, text=text, texttemplate="%{text}",
        colorscale="RdBu" if gain else "Viridis", zmin=low, zmax=high, zmid=0 if gain else None, hoverongaps=False,
        colorbar={"title": {"text": spec.label}, "tickvals": ticks, "ticktext": [_tick_text(t, spec, role) for t in ticks]},
        hovertemplate=f"{first.label} %{{x}}<br>{second.label} %{{y}}<br>{spec.label} %{{text}}<extra></extra>"))
    fig.update_layout(title=f"{spec.label}: {TITLES[role]}", xaxis_title=first.label, yaxis_title=second.label,
                      height=380, margin={"t": 50, "b": 50, "l": 70, "r": 20})
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


GAIN_SPANS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # a gain's colour bar runs from -span to +span


def colour_range(values: list[float], spec, role: str) -> tuple[float, float, list[float]]:
    """(low, high, ticks) of a heatmap's colour bar, each tick a different label.

    An accuracy runs over 0..100% whatever the cells hold: a grid of 95-97% is not painted as the whole range
    of colours (nor ticked '96%' five times), and one of a single value does not reach 140%. A gain is centred
    on zero, from -span to +span for the first round span that holds every cell.
    """
    if role == "gain":
        largest = max((abs(v) for v in values), default=0.0)
        span = next((s for s in GAIN_SPANS if s >= largest), largest) if spec.accuracy else (largest or 1.0)
        return -span, span, [-span, -span / 2, 0.0, span / 2, span]
    if spec.accuracy:
        return 0.0, 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]
    low, high = min(values, default=0.0), max(values, default=1.0)
    if low == high:
        pad = abs(low) / 10 or 1.0
        return low - pad, high + pad, [low]
    return low, high, [low, high] if spec.format(low) != spec.format(high) else [low]


def axis_labels(values: list, spec) -> list[str]:
    """Each value as the sidebar writes it ('3e-4'), or in full where two would read alike (a categorical axis
    would put both on one cell)."""
    shown = [spec.show(v) for v in values]
    return [s if shown.count(s) == 1 else repr(v) for s, v in zip(shown, values)]


def _tick_text(value: float, spec, role: str) -> str:
    """A colour bar's tick: '25%', '-5 pts', '+2.5 pts' (a cell's own text for any other measure)."""
    if not spec.accuracy:
        return spec.format(value)
    number = 100 * value
    digits = 0 if number == round(number) else 1
    return f"{number:+.{digits}f} pts" if role == "gain" else f"{number:.{digits}f}%"


def _cell_text(value: float, spec, role: str) -> str:
    if role == "gain" and spec.accuracy:
        return f"{100 * value:+.1f} pts"
    return spec.format(value)


def grid_values(comparisons: list, parameter: str, parameter2: str, metric: str = "test_acc",
                role: str = "transfer") -> tuple[list, list, list[list[float | None]]]:
    """Comparisons laid on a two-setting grid for a heatmap: (values of ``parameter``, of ``parameter2``,
    one row of ``metric`` per value of ``parameter2``).

    ``role`` is "transfer", "scratch" or "gain" (transfer minus scratch: what pre-training bought).
    Comparisons on the same cell (several students, several sweeps) are averaged; a cell whose comparisons have
    no such number (stopped before it) is None, and keeps its place on the axes.
    """
    if metric not in BY_KEY:
        raise ConfigError(f"unknown metric {metric!r}; use one of {', '.join(BY_KEY)}")
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    cells: dict[tuple, list[float]] = {}
    for comparison in comparisons:
        value = cell_value(comparison, metric, role)
        at = (getattr(comparison.config.transfer, parameter), getattr(comparison.config.transfer, parameter2))
        cells.setdefault(at, []).extend([value] if value is not None else [])
    xs, ys = _ordered(x for x, _ in cells), _ordered(y for _, y in cells)
    return xs, ys, [[statistics.fmean(cells[x, y]) if cells.get((x, y)) else None for x in xs] for y in ys]


def _ordered(values) -> list:
    return sorted(set(values), key=lambda v: (v is None, v))  # None ("every image") after the numbers


def cell_value(comparison, metric: str, role: str) -> float | None:
    """One comparison's ``metric`` for ``role`` (mean over seeds), or transfer minus scratch for "gain"."""
    summary = comparison.summary()
    transfer, scratch = ((summary[r] or {}).get(metric) for r in ("transfer", "scratch"))
    if role == "gain":
        return None if transfer is None or scratch is None else transfer - scratch
    return transfer if role == "transfer" else scratch
