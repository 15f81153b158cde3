"""ipywidgets panels for notebooks: the same option spec, engine and plot builders as the dashboard.

Every panel can be driven from code (set a control's ``value``, call ``.click()`` on a button)
and keeps what it produced (``panel.result``), so a later cell can read the numbers. Runs train
in a background thread; progress, status and curves update while they do, and Stop works even
while a cell waits with ``await panel.finished()``.

    from workbench.widgets import ComparisonPanel
    panel = ComparisonPanel(epochs=5); display(panel)   # then press Run, or:
    panel.run.click(); await panel.finished()           # waits, then leaves the results as outputs

Outside a notebook (scripts, tests) ``panel.wait()`` blocks until the run ends. ``ComparisonPanel(predict=True)``
asks for a prediction before Run (or takes one from code, ``panel.predict_with(Prediction(...))``) and shows it
beside the result.
"""

from __future__ import annotations

from workbench import lazy_exports

_PUBLIC = {
    "ComparisonPanel": "workbench.widgets.comparison:ComparisonPanel",
    "DatasetBuilder": "workbench.widgets.datasets:DatasetBuilder",
    "StageMap": "workbench.widgets.comparison:StageMap",
    "BackboneExplorer": "workbench.widgets.explorer:BackboneExplorer",
    "SweepPanel": "workbench.widgets.sweep:SweepPanel",
    "lr_finder": "workbench.widgets.sweep:lr_finder",
    "InsidePanel": "workbench.widgets.inside:InsidePanel",
    "cost_table_html": "workbench.widgets.views:cost_table_html",
}
__all__ = sorted(_PUBLIC)

__getattr__ = lazy_exports(_PUBLIC, globals(), __name__)
