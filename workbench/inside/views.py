"""The six views declared once: title, engine function, text summary and figures.

`workbench inside` renders them into one self-contained HTML page; the dashboard and the
widgets lay out the same figures, adding their controls (a confusion cell, an upload).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable

import plotly.graph_objects as go

from workbench.inside import VIEW_NAMES, features, filters, gradcam, mistakes, movement, photo
from workbench.inside import plots as inside_plots
from workbench.inside.networks import Networks
from workbench.present import plots


@dataclass(frozen=True)
class View:
    title: str
    compute: Callable  # (networks, **options) -> result
    describe: Callable[[object], list[str]]
    draw: Callable[[Networks, object], list[go.Figure]]


def cell_gallery(networks: Networks, predictions: mistakes.Predictions, role: str,
                 true: int | None = None, predicted: int | None = None) -> go.Figure:
    """The test images in one confusion cell (None: any class; both None: every mistake)."""
    classes = networks.classes
    if true is None and predicted is None:
        title = f"{role}: mistakes, most confident first"
    else:
        title = (f"{role}: true {'any' if true is None else classes[true]}, "
                 f"predicted {'any' if predicted is None else classes[predicted]}")
    return inside_plots.mistake_gallery(networks.data.images["test"], predictions,
                                        predictions.cell(true, predicted), classes, title)


def _mistake_figures(networks: Networks, predictions: dict[str, mistakes.Predictions]) -> list[go.Figure]:
    classes = networks.classes
    confusions = [plots.confusion_heatmap(p.confusion(len(classes)), classes, f"{role}: test confusion")
                  for role, p in predictions.items()]
    return confusions + [cell_gallery(networks, p, role) for role, p in predictions.items()]


VIEWS: dict[str, View] = dict(zip(VIEW_NAMES, [
    View("What moved", movement.what_moved, movement.describe, lambda n, r: [inside_plots.movement_bars(r)]),
    View("First-layer filters", filters.first_layer_filters, filters.describe,
         lambda n, r: [inside_plots.filters_figure(r)]),
    View("Feature space", features.feature_space, features.describe, lambda n, r: [inside_plots.feature_scatter(r)]),
    View("Where it looks", gradcam.where_it_looks, gradcam.describe,
         lambda n, r: [inside_plots.gradcam_grid(r, n.classes)]),
    View("Mistakes", mistakes.test_predictions, mistakes.describe, _mistake_figures),
    View("Your own photo", photo.look_at_photo, photo.describe, lambda n, r: [inside_plots.photo_figure(r)]),
]))


def html_page(title: str, sections: list[tuple[str, list[str], list[go.Figure]]]) -> str:
    """One self-contained page: plotly.js is embedded once, so it opens offline."""
    parts, embedded = [], False
    for heading, lines, figures in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2><pre>{html.escape(chr(10).join(lines))}</pre>")
        for figure in figures:
            parts.append(figure.to_html(full_html=False, include_plotlyjs=not embedded))
            embedded = True
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family:sans-serif'><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>")
