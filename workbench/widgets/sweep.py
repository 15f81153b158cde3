"""The sweep panel: one real comparison per value of any sweepable option (or pair of two: a grid), plotted as
they finish: a curve for one setting, a heatmap for two."""

from __future__ import annotations

import ipywidgets as w
import plotly.graph_objects as go

from workbench.core.metrics import ACCURACIES
from workbench.core.records import RunRecord
from workbench.experiments.comparisons import Comparison, group_comparisons
from workbench.experiments.grids import grid_configs, parse_sweep_values
from workbench.experiments.grouping import sweep_points
from workbench.jobs.job import Job
from workbench.present import plots
from workbench.present.sweep_plots import sweep_heatmap
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.options import SWEEPABLE, option, sweep_hint
from workbench.store.runs import RunStore
from workbench.training.lr_finder import LRFinderResult, find_lr
from workbench.widgets.controls import STYLE, WIDE, toggles
from workbench.widgets.job_panel import JobPanel
from workbench.widgets.views import FigureView, figure_bundle


class SweepPanel(JobPanel):
    """Sweep any sweepable option around ``base``; each point is a transfer-vs-scratch comparison."""

    def __init__(self, base: ComparisonConfig | None = None, store: RunStore | None = None,
                 parameter: str = "freeze_depth", values: str = "", parameter2: str | None = None,
                 values2: str = ""):
        self.base = base or ComparisonConfig()
        backbone = self.base.transfer.backbone
        self.parameter = w.Dropdown(options=[(option(name).label, name) for name in SWEEPABLE], value=parameter,
                                    description="sweep over", style=STYLE, layout=WIDE)
        self.values = w.Text(value=values or sweep_hint(parameter, backbone), description="values", style=STYLE,
                             layout=WIDE, continuous_update=False)
        self.parameter2 = w.Dropdown(options=[("nothing else", None)] + [(option(n).label, n) for n in SWEEPABLE],
                                     value=parameter2, description="and over (a grid)", style=STYLE, layout=WIDE)
        self.values2 = w.Text(value=values2 or (sweep_hint(parameter2, backbone) if parameter2 else ""),
                              description="values", style=STYLE, layout=WIDE, continuous_update=False)
        self.parameter2.observe(lambda change: setattr(self.values2, "value", sweep_hint(change["new"], backbone)
                                                       if change["new"] else ""), "value")
        self.metric = toggles(options=[(m.label, m.key) for m in ACCURACIES], value="test_acc", description="accuracy")
        self.figure_view = FigureView()
        self.result: list[Comparison] = []
        self.points: list[dict] = []
        self._live: dict[str, RunRecord] = {}
        self.parameter.observe(lambda change: setattr(self.values, "value", sweep_hint(change["new"], backbone)),
                               "value")
        self.metric.observe(lambda _: self._plot(), "value")
        super().__init__([self.parameter, self.values, self.parameter2, self.values2], [self.metric, self.figure_view],
                         store)

    @property
    def figure(self) -> go.Figure | None:
        return self.figure_view.figure

    def _configs(self) -> list[ComparisonConfig]:
        second = self.parameter2.value
        return grid_configs(self.base, self.parameter.value, parse_sweep_values(self.values.value, self.parameter.value),
                            second, parse_sweep_values(self.values2.value, second) if second else None)

    def _adopt(self, other: "SweepPanel") -> None:
        self._live, self.result = dict(other._live), list(other.result)
        self._plot()

    def _clear(self) -> None:
        self.result, self.points, self._live = [], [], {}
        self.figure_view.show(None)

    def _show(self, records: list[RunRecord]) -> None:
        """A point appears once both runs of its comparison have finished."""
        self._live.update((r.run_id, r) for r in records)
        self.result = [c for c in group_comparisons(list(self._live.values())).values()
                       if c.scratch and all(r.test_acc is not None for r in c.transfer + c.scratch)]
        self._plot()

    def _finished(self, job: Job) -> None:
        self.result = job.results
        self._plot()

    def _plot(self) -> None:
        self.points = sweep_points(self.result, self.parameter.value)
        ready = any(p[role].get(self.metric.value) is not None for p in self.points for role in ("transfer", "scratch")
                    if p.get(role))
        if not ready:
            self.figure_view.show(None)
        elif self.parameter2.value:
            self.figure_view.show(sweep_heatmap(self.result, self.parameter.value, self.parameter2.value,
                                                self.metric.value, "gain"))
        else:
            self.figure_view.show(plots.sweep_curve(self.points, self.parameter.value, self.metric.value))
        if self.copied:  # the final results also show as plain outputs: refresh them
            self._leave_copies()

    def _final_outputs(self) -> list[dict]:
        return [figure_bundle(self.figure)] if self.figure is not None else []


def lr_finder(config: RunConfig | None = None, steps: int = 60) -> tuple[LRFinderResult, go.Figure]:
    """Run the learning-rate range test and return the result with its plot."""
    result = find_lr(config or RunConfig(), steps=steps)
    return result, plots.lr_finder_curve(result.lrs, result.losses, result.suggested_lr)
