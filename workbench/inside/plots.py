"""Plotly builders for the views inside the networks, one per view, shared by the CLI, dashboard and widgets.

Each takes what an engine function in `workbench.inside` returned (numbers and images, never a
model), so a view looks the same in a terminal's HTML page, the dashboard and a notebook.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from pytorch_grad_cam.utils.image import show_cam_on_image

from workbench.inside.features import NEIGHBOURS, FeatureSpace
from workbench.inside.gradcam import WhereItLooks
from workbench.inside.mistakes import Predictions
from workbench.inside.photo import PhotoView
from workbench.present.plots import COLORS, PALETTE, image_grid

MARGIN = {"t": 50, "b": 30, "l": 40, "r": 20}


def movement_bars(moved: dict[str, dict[str, float]]) -> go.Figure:
    """Relative distance each stage moved from its start, transfer beside scratch, on a log axis."""
    fig = go.Figure()
    for role, stages in moved.items():
        fig.add_trace(go.Bar(x=list(stages), y=list(stages.values()), name=role, marker_color=COLORS.get(role),
                             text=[f"{v:.3g}" for v in stages.values()], textposition="outside"))
        for stage, value in stages.items():
            if value == 0:  # a log axis cannot draw zero: say it
                fig.add_annotation(x=stage, y=0, yref="paper", text=f"{role}: did not move", showarrow=False,
                                   yanchor="bottom", font={"size": 10, "color": COLORS.get(role)})
    fig.update_layout(barmode="group", height=380, margin=MARGIN, yaxis={"type": "log", "title": "||w - w0|| / ||w0||"},
                      title="How far training moved each stage from its start")
    return fig


def _mosaic(filters: np.ndarray, zoom: int = 6) -> np.ndarray:
    """(N, k, k, 3) filters -> one (3, H, W) uint8 image: a square-ish grid, enlarged, on a white ground."""
    count, k = len(filters), filters.shape[1]
    columns = int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    cell = k * zoom + 2
    canvas = np.full((rows * cell, columns * cell, 3), 255, np.uint8)
    for i, f in enumerate(filters):
        top, left = (i // columns) * cell + 1, (i % columns) * cell + 1
        canvas[top:top + k * zoom, left:left + k * zoom] = f.repeat(zoom, 0).repeat(zoom, 1)
    return torch.from_numpy(canvas).permute(2, 0, 1)


def filters_figure(filters: dict[str, np.ndarray]) -> go.Figure:
    """First-layer filters of each network side by side (mid-grey is zero)."""
    fig = image_grid(torch.stack([_mosaic(f) for f in filters.values()]), list(filters), columns=len(filters),
                     title="First-layer filters (each scaled on its own; grey = 0)")
    fig.update_layout(height=380)
    return fig


def feature_scatter(space: FeatureSpace) -> go.Figure:
    """Validation images in 2-D, one panel per network (columns) and projection (rows), coloured by class."""
    names = list(space.points)
    methods = list(next(iter(space.points.values())))
    titles = [f"{name} · {method.upper()}" + (f" · {NEIGHBOURS}-NN {space.knn_acc[name]:.0%}"
                                              if space.knn_acc[name] is not None else "")
              for method in methods for name in names]
    fig = make_subplots(rows=len(methods), cols=len(names), subplot_titles=titles, horizontal_spacing=0.04,
                        vertical_spacing=0.1)
    for row, method in enumerate(methods, start=1):
        for col, name in enumerate(names, start=1):
            xy = space.points[name][method]
            for c, label in enumerate(space.classes):
                mine = space.labels == c
                fig.add_trace(go.Scattergl(x=xy[mine, 0], y=xy[mine, 1], mode="markers", name=label,
                                           legendgroup=label, showlegend=row == 1 and col == 1,
                                           marker={"size": 6, "color": PALETTE[c % len(PALETTE)]}), row=row, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=330 * len(methods) + 40, margin=MARGIN,
                      title=f"Penultimate features of the validation images ({NEIGHBOURS}-NN: cross-validated accuracy "
                            f"on the full features)")
    return fig


def overlay(images: torch.Tensor, heatmaps: np.ndarray) -> torch.Tensor:
    """uint8 (N, 3, H, W) images with (N, H, W) heatmaps laid over them, as uint8 (N, 3, H, W)."""
    pictures = images.permute(0, 2, 3, 1).numpy().astype(np.float32) / 255
    blended = [show_cam_on_image(p, h, use_rgb=True) for p, h in zip(pictures, heatmaps)]
    return torch.from_numpy(np.stack(blended)).permute(0, 3, 1, 2)


def gradcam_grid(view: WhereItLooks, classes: list[str]) -> go.Figure:
    """The test images, then each network's Grad-CAM for the class it predicted (one row per network)."""
    rows = [view.images] + [overlay(view.images, view.heatmaps[role]) for role in view.heatmaps]
    labels = [f"true {classes[t]}" for t in view.labels]
    for role in view.heatmaps:
        labels += [f"{role}: {classes[p]} {c:.0%}" for p, c in zip(view.predicted[role], view.confidence[role])]
    grid = "x".join(map(str, view.grid))
    return image_grid(torch.cat(rows), labels, columns=len(view.labels),
                      title=f"Where each network looks (Grad-CAM on a {grid} grid; red = evidence for its prediction)")


def mistake_gallery(images: torch.Tensor, predictions: Predictions, indices: list[int], classes: list[str],
                    title: str, limit: int = 24) -> go.Figure:
    """The chosen test images with what the network said, how sure it was, and the truth."""
    shown = indices[:limit]
    if not shown:
        fig = go.Figure()
        fig.add_annotation(text="no test images here", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(title=title, height=160, xaxis={"visible": False}, yaxis={"visible": False})
        return fig
    labels = [f"{classes[int(predictions.predicted[i])]} {float(predictions.confidence[i]):.0%}<br>"
              f"true {classes[int(predictions.labels[i])]}" for i in shown]
    more = f" (first {limit} of {len(indices)})" if len(indices) > limit else f" ({len(indices)})"
    return image_grid(images[shown], labels, columns=min(8, len(shown)), title=html.escape(title) + more)


def photo_figure(view: PhotoView) -> go.Figure:
    """Your photo, each network's Grad-CAM for its top class, and both networks' top classes."""
    roles = list(view.top)
    pictures = [view.image[None]] + [overlay(view.image[None], view.heatmaps[role][None]) for role in roles]
    titles = ["your photo"] + [f"{role}: {view.top[role][0][0]}" for role in roles] + ["top classes"]
    fig = make_subplots(rows=1, cols=len(pictures) + 1, subplot_titles=titles, horizontal_spacing=0.04,
                        column_widths=[1] * len(pictures) + [1.7])
    for col, picture in enumerate(pictures, start=1):
        fig.add_trace(go.Image(z=picture[0].permute(1, 2, 0).numpy()), row=1, col=col)
        fig.update_xaxes(visible=False, row=1, col=col)
        fig.update_yaxes(visible=False, row=1, col=col)
    for role in roles:
        top = view.top[role][::-1]
        # The class names are written on the bars: as tick labels they ran over the picture beside the chart.
        fig.add_trace(go.Bar(x=[p for _, p in top], y=[c for c, _ in top], orientation="h", name=role,
                             marker_color=COLORS.get(role), text=[f"{c} {p:.0%}" for c, p in top],
                             textposition="outside", cliponaxis=False, textfont={"size": 10}),
                      row=1, col=len(pictures) + 1)
    fig.update_xaxes(tickformat=".0%", range=[0, 2.2], tickvals=[0, 0.5, 1], row=1, col=len(pictures) + 1)
    fig.update_yaxes(showticklabels=False, row=1, col=len(pictures) + 1)
    fig.update_layout(barmode="group", height=300, margin=MARGIN, legend={"orientation": "h", "y": -0.15})
    return fig
