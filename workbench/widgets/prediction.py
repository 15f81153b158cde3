"""Predict, then run: the comparison panel's "your prediction" box, and the prediction beside the result.

The engine keeps and compares predictions (`workbench.store.predictions`, `workbench.experiments.predictions`); the
chart is `workbench.present.prediction_plots`, as on the dashboard. What a student typed is shown escaped.
"""

from __future__ import annotations

import html

import ipywidgets as w

from workbench.experiments.predictions import Outcome
from workbench.present.prediction_plots import prediction_beside_result
from workbench.store.predictions import FIRST, Prediction
from workbench.widgets.controls import NARROW, STYLE, WIDE, toggles
from workbench.widgets.views import FigureView, figure_bundle

ROLES = ("transfer", "scratch")


class PredictionBox(w.VBox):
    """Before Run: which network reaches the target first and by how many epochs, each one's test accuracy, why."""

    def __init__(self, target_acc: float):
        self.heading = w.HTML()
        self.first = toggles(options=list(FIRST), value="transfer", description="first to the target")
        self.by_epochs = w.IntText(value=0, description="by how many epochs sooner", style=STYLE, layout=NARROW,
                                   tooltip="0 when neither network gets there first")
        self.accuracy = {role: w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, readout_format=".0%",
                                             description=f"{role}'s test accuracy", style=STYLE, layout=WIDE)
                         for role in ROLES}
        self.why = w.Text(description="why (optional)", placeholder="because…", style=STYLE, layout=WIDE,
                          continuous_update=False)
        self.name = ""  # who, for the class board (set with `fill`)
        self.show_target(target_acc)
        super().__init__([self.heading, self.first, self.by_epochs, *self.accuracy.values(), self.why],
                         layout={"border": "1px solid #ddd", "padding": "4px", "margin": "0 0 8px 0"})

    def show_target(self, target_acc: float) -> None:
        self.heading.value = (f"<b>your prediction</b>, before you press Run: which network reaches "
                              f"{100 * target_acc:.0f} % validation accuracy first, and how well each one does on "
                              f"the test set")

    def prediction(self) -> Prediction:
        """What the box holds, or a one-line `ConfigError` saying what to fix."""
        return Prediction(self.first.value, self.by_epochs.value, self.accuracy["transfer"].value,
                          self.accuracy["scratch"].value, self.why.value.strip(), self.name).checked()

    def fill(self, prediction: Prediction) -> None:
        """Set the box to ``prediction`` (checked first: a bad one changes nothing)."""
        prediction.checked()
        self.first.value, self.by_epochs.value = prediction.first, prediction.by_epochs
        for role in ROLES:
            self.accuracy[role].value = getattr(prediction, f"{role}_acc")
        self.why.value, self.name = prediction.why, prediction.name


class PredictionBeside(w.VBox):
    """After the run: the predicted and measured test accuracies as bars, and every guess beside what happened."""

    def __init__(self):
        self.view = FigureView()
        self.table = w.HTML()
        super().__init__([self.view, self.table])

    def show(self, outcome: Outcome | None) -> None:
        if outcome is None:
            self.view.show(None)
            self.table.value = ("<i>your prediction is saved with the comparison; both runs did not finish, so there "
                                "is nothing to set it beside</i>")
            return
        pairs = {f"{role}'s test accuracy": (getattr(outcome.prediction, f"{role}_acc"),
                                             getattr(outcome.measured, f"{role}_acc")) for role in ROLES}
        self.view.show(prediction_beside_result(pairs, "your prediction beside the result"))
        self.table.value = beside_html(outcome)

    def clear(self) -> None:
        self.view.show(None)
        self.table.value = ""

    def outputs(self) -> list[dict]:
        """Mime bundles of what is shown, for the panel's plain copies."""
        figure = [figure_bundle(self.view.figure)] if self.view.figure is not None else []
        return [*figure, {"text/html": self.table.value}] if self.table.value else figure


def beside_html(outcome: Outcome) -> str:
    """Each guess beside what was measured, the reason given, and whether the winner was the one expected."""
    rows = "".join(f"<tr><td>{html.escape(what)}</td><td>{html.escape(said)}</td><td>{html.escape(got)}</td></tr>"
                   for what, said, got in outcome.rows())
    why = f"<p>why: {html.escape(outcome.prediction.why)}</p>" if outcome.prediction.why else ""
    verdict = ("right about who is first" if outcome.first_right else
               "a surprise: who was first is not what you expected. Why might that be?")
    return (f"<table><tr><th></th><th>you said</th><th>measured</th></tr>{rows}</table>{why}"
            f"<p><b>{html.escape(verdict)}</b></p>")
