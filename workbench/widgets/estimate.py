"""Beside Run: how long the panel's settings take on this machine, updated as they change.

Only a kept calibration is read as the settings change (cheap); where this machine was never measured for them,
a small button measures it once (a second or two), so that a notebook never stalls on a change of a slider.
"""

from __future__ import annotations

import html
from typing import Callable

import ipywidgets as w

from workbench.core.errors import WorkbenchError
from workbench.experiments.estimate import estimate
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore


class EstimateLine(w.HBox):
    """'about 40 s on this machine', or a button that measures the machine once for these settings."""

    def __init__(self, configs: Callable[[], list[ComparisonConfig]], store: RunStore):
        self.configs, self.store = configs, store
        self.text = w.HTML()
        self.measure = w.Button(description="how long?", icon="clock-o", layout={"width": "auto"},
                                tooltip="measure this machine once (a second or two) to estimate the run's time")
        self.measure.on_click(lambda _: self.refresh(measure=True))
        super().__init__([self.measure, self.text])

    def watch(self, controls: list[w.Widget]) -> None:
        """Refresh whenever a control's value changes (controls inside boxes too)."""
        stack = list(controls)
        while stack:
            widget = stack.pop()
            stack += list(getattr(widget, "children", ()))
            if widget.has_trait("value"):
                widget.observe(lambda _: self.refresh(), names="value")
        self.refresh()

    def refresh(self, measure: bool = False) -> None:
        try:
            found = estimate(self.configs(), self.store, measure=measure)
        except WorkbenchError:  # settings that cannot run: the panel says why when Run is pressed
            self.measure.layout.display = "none"
            self.text.value = ""
            return
        self.measure.layout.display = "none" if found is not None else None
        self.text.value = f"<i style='white-space:nowrap'>{html.escape(found.line())}</i>" if found is not None else ""
