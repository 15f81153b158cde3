"""How a panel shows a figure or a table: kept in widget state while live, as plain outputs once done.

A figure is sent as plotly's own mime type, built here rather than through ``plotly.io`` (whose
renderers import nbformat: 3 s on a fresh kernel), and held by an ``Output`` widget whose outputs
are part of its synced state, so a page reload draws it again from the kernel.
"""

from __future__ import annotations

import html
import json

import ipywidgets as w
import plotly.graph_objects as go

from workbench.present.report import comparison_rows, verdict

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def figure_bundle(figure: go.Figure) -> dict:
    """The figure as JupyterLab's plotly renderer reads it (a few kB, no plotly.js inside)."""
    title = (", ".join(a.text for a in figure.layout.annotations) or figure.layout.title.text
             or ", ".join(axis.title.text for axis in figure.select_yaxes() if axis.title.text)
             or "figure")
    return {PLOTLY_MIME: {**json.loads(figure.to_json()), "config": {"displaylogo": False}},
            "text/plain": f"<plotly figure: {title}>"}


class FigureView(w.Output):
    """One figure, replaced whole on every update; empty (not an empty grid) until there is data."""

    figure: go.Figure | None = None

    def show(self, figure: go.Figure | None) -> None:
        self.figure = figure
        self.outputs = () if figure is None else (
            {"output_type": "display_data", "data": figure_bundle(figure), "metadata": {}},)


def cost_table_html(summary: dict) -> str:
    """The side-by-side table of every metric, with the sentence on who reached the target first."""
    rows = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                   for a, b, c in comparison_rows(summary))
    sentence = f"<p><b>{html.escape(verdict(summary.get('transfer'), summary.get('scratch')))}</b></p>"
    busy = dict.fromkeys((summary.get(role) or {}).get("machine_busy") for role in ("transfer", "scratch"))
    notes = "".join(f"<p style='color:#b35900'>⚠ {html.escape(note)}</p>" for note in busy if note)
    return f"{sentence}{notes}<table><tr><th></th><th>transfer</th><th>scratch</th></tr>{rows}</table>"
