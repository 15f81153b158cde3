"""`InsidePanel`: the six views inside a finished comparison's networks, for notebooks.

The same engine functions and plot builders as `workbench inside` and the dashboard. Like the
other panels it can be driven from code (``panel.show_photo(data)``, set ``panel.true.value``)
and keeps what it computed (``panel.result[view]``).

    from workbench.widgets.inside import InsidePanel
    InsidePanel(comparison_id, store)
"""

from __future__ import annotations

import html

import ipywidgets as w

from workbench.core.errors import WorkbenchError
from workbench.inside import VIEW_NAMES
from workbench.inside.networks import ROLES, load_networks
from workbench.inside.views import VIEWS, cell_gallery
from workbench.present import plots
from workbench.store.runs import RunStore
from workbench.widgets.controls import STYLE
from workbench.widgets.views import FigureView

ANY = ("any", None)


class InsidePanel(w.VBox):
    """What moved, first-layer filters, feature space, Grad-CAM, mistakes (pick a cell) and your own photo."""

    def __init__(self, comparison_id: str, store: RunStore | None = None):
        self.status = w.HTML()
        self.result: dict = {}
        try:
            self.networks = load_networks(store or RunStore(), comparison_id)
        except WorkbenchError as exc:
            self.status.value = f"<span style='color:#b00'>error: {html.escape(str(exc))}</span>"
            super().__init__([self.status])
            return
        pages = {name: self._static(name) for name in ("movement", "filters", "features", "gradcam")}
        pages["mistakes"] = self._mistakes_page()
        pages["photo"] = self._photo_page()
        self.tabs = w.Tab([pages[name] for name in VIEW_NAMES], titles=[VIEWS[name].title for name in VIEW_NAMES])
        super().__init__([self.tabs, self.status])

    def _static(self, name: str) -> w.Widget:
        result = self.result[name] = VIEWS[name].compute(self.networks)
        text = w.HTML(f"<pre>{html.escape(chr(10).join(VIEWS[name].describe(result)))}</pre>")
        views = []
        for figure in VIEWS[name].draw(self.networks, result):
            views.append(FigureView())
            views[-1].show(figure)
        return w.VBox([text, *views])

    def _mistakes_page(self) -> w.Widget:
        self.result["mistakes"] = VIEWS["mistakes"].compute(self.networks)
        choices = [ANY, *[(c, i) for i, c in enumerate(self.networks.classes)]]
        self.role = w.ToggleButtons(options=ROLES, description="network", style=STYLE)
        self.true = w.Dropdown(options=choices, value=None, description="true class", style=STYLE)
        self.predicted = w.Dropdown(options=choices, value=None, description="predicted as", style=STYLE)
        self.confusion, self.gallery = FigureView(), FigureView()
        for control in (self.role, self.true, self.predicted):
            control.observe(lambda _: self._draw_cell(), "value")
        self._draw_cell()
        return w.VBox([self.role, w.HBox([self.true, self.predicted]), w.HBox([self.confusion]), self.gallery])

    def _draw_cell(self) -> None:
        predictions = self.result["mistakes"][self.role.value]
        classes = self.networks.classes
        self.confusion.show(plots.confusion_heatmap(predictions.confusion(len(classes)), classes, self.role.value))
        self.gallery.show(cell_gallery(self.networks, predictions, self.role.value, self.true.value,
                                       self.predicted.value))

    def _photo_page(self) -> w.Widget:
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="your photo")
        self.photo = FigureView()
        self.upload.observe(self._uploaded, "value")
        return w.VBox([self.upload, self.photo])

    def _uploaded(self, change) -> None:
        if change["new"]:
            upload = change["new"][0]
            self.show_photo(bytes(upload["content"]), upload["name"])

    def show_photo(self, data: bytes, name: str = "the photo") -> None:
        """Both networks' top classes and Grad-CAM for an encoded image; a bad file gets one line."""
        try:
            self.result["photo"] = VIEWS["photo"].compute(self.networks, data=data, name=name)
        except WorkbenchError as exc:
            self.status.value = f"<span style='color:#b00'>error: {html.escape(str(exc))}</span>"
            return
        self.status.value = html.escape("; ".join(VIEWS["photo"].describe(self.result["photo"])))
        self.photo.show(VIEWS["photo"].draw(self.networks, self.result["photo"])[0])
