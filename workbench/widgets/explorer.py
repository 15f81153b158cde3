"""`BackboneExplorer`: every backbone side by side, and its speed measured on this machine, in a notebook.

The same engine (`workbench.explorer.measure`) and chart (`workbench.explorer.plots`) as `workbench backbones
--measure` and the dashboard's Backbones tab. Measuring runs in the click, so a cell that calls
``panel.measure.click()`` has the numbers in ``panel.result`` when it returns.

    from workbench.widgets import BackboneExplorer
    BackboneExplorer()                      # pick a size, press Measure
"""

from __future__ import annotations

import html

import ipywidgets as w

from workbench.core.errors import WorkbenchError
from workbench.explorer.measure import explorer_rows, measure_backbones
from workbench.explorer.plots import AUTO, backbone_chart, notes, table_cells, x_axis_choices
from workbench.spec.options import IMAGE_SIZES, option
from workbench.widgets.controls import STYLE, WIDE
from workbench.widgets.views import FigureView


class BackboneExplorer(w.VBox):
    """Parameters, stages, FLOPs, file size and ImageNet top-1 of each backbone; Measure adds its speed here.

    ``names`` limits the backbones (all by default), e.g. to measure a few quickly in a lesson.
    """

    def __init__(self, image_size: int = option("image_size").default, names: list[str] | None = None):
        self.names = names
        self.image_size = w.Dropdown(options=IMAGE_SIZES, value=image_size, description="image size (px)", style=STYLE)
        self.x_axis = w.Dropdown(options=x_axis_choices(), value=AUTO, description="top-1 against", style=STYLE,
                                 layout=WIDE)
        self.measure = w.Button(description="Measure on this machine", button_style="primary",
                                tooltip="time inference and training of each backbone at this size (random weights)",
                                layout={"width": "240px"})
        self.progress = w.IntProgress(min=0, max=1, value=0, layout={"width": "240px", "visibility": "hidden"})
        self.table, self.notes, self.status = w.HTML(), w.HTML(), w.HTML()
        self.figure_view = FigureView()
        self.result: list[dict] = []
        self.image_size.observe(lambda _: self.refresh(), "value")
        self.x_axis.observe(lambda _: self.refresh(), "value")
        self.measure.on_click(lambda _: self._measure())
        super().__init__([self.image_size, self.x_axis, w.HBox([self.measure, self.progress]), self.status,
                          self.figure_view, self.table, self.notes])
        self.refresh()

    @property
    def figure(self):
        return self.figure_view.figure

    def refresh(self) -> None:
        """Draw what is known at the chosen size: the static facts and anything measured already."""
        try:
            self.result = explorer_rows(self.image_size.value, self.names)
        except WorkbenchError as exc:
            self.status.value = f"<span style='color:#b00'>error: {html.escape(str(exc))}</span>"
            return
        header, cells = table_cells(self.result)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)
        self.table.value = f"<table><tr>{head}</tr>{body}</table>"
        self.notes.value = "".join(f"<p><small>{html.escape(line)}</small></p>" for line in notes(self.result))
        self.figure_view.show(backbone_chart(self.result, x=self.x_axis.value))

    def _measure(self) -> None:
        size = self.image_size.value
        self.progress.max, self.progress.value = len(self.names or self.result) or 1, 0
        self.progress.layout.visibility = "visible"
        self.measure.disabled = True
        try:
            for result in measure_backbones(size, self.names):
                self.progress.value += 1
                self.status.value = html.escape(f"measured {result['name']}: {result['latency_ms']:.1f} ms/img, "
                                                f"{result['train_img_s']:.1f} training img/s")
            self.status.value = ""
        except WorkbenchError as exc:
            self.status.value = f"<span style='color:#b00'>error: {html.escape(str(exc))}</span>"
        finally:
            self.measure.disabled = False
            self.progress.layout.visibility = "hidden"
        self.refresh()
