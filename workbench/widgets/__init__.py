"""ipywidgets panels for notebooks: the same option spec, engine and plot builders as the dashboard.

Every panel can be driven from code (set a control's ``value``, call ``.click()`` on a button)
and keeps what it produced (``panel.result``), so a later cell can read the numbers. Runs train
in a background thread; progress, status and curves update while they do, and Stop works even
while a cell waits with ``await panel.finished()``.

    from workbench.widgets import ComparisonPanel
    panel = ComparisonPanel(epochs=5); display(panel)   # then press Run, or:
    panel.run.click(); await panel.finished()           # waits, then leaves the results as outputs

Outside a notebook (scripts, tests) ``panel.wait()`` blocks until the run ends.
"""

from workbench.widgets.comparison import ComparisonPanel, StageMap
from workbench.widgets.explorer import BackboneExplorer
from workbench.widgets.sweep import SweepPanel, lr_finder
from workbench.widgets.views import cost_table_html

__all__ = ["BackboneExplorer", "ComparisonPanel", "StageMap", "SweepPanel", "cost_table_html", "lr_finder"]
