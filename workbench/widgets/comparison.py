"""The comparison panel: every option of the spec as a control, live curves, the cost table; with ``predict=True``
the student's prediction before Run, and beside the result after."""

from __future__ import annotations

import html
import threading
from dataclasses import replace

import ipywidgets as w

from workbench.core.errors import ConfigError
from workbench.core.metrics import human_count
from workbench.core.records import RunRecord
from workbench.data.loading import suggested_datasets
from workbench.experiments.comparisons import Comparison, group_comparisons
from workbench.experiments.grids import configs_from_values
from workbench.experiments.predictions import Outcome, outcome
from workbench.jobs.job import Job
from workbench.models.backbones import get_backbone, list_backbones
from workbench.models.weights.status import weights_status
from workbench.present import plots
from workbench.spec.config import ComparisonConfig
from workbench.spec.options import default, shown_in
from workbench.spec.preflight import class_count
from workbench.store.predictions import Prediction, Predictions
from workbench.store.runs import RunStore, now_iso
from workbench.widgets.controls import STYLE, control, follow_backbone, toggles
from workbench.widgets.job_panel import JobPanel
from workbench.widgets.prediction import PredictionBeside, PredictionBox
from workbench.widgets.views import FigureView, cost_table_html, figure_bundle

SECTIONS = {"finetuning": "fine-tuning: discriminative rates, gradual unfreezing",
            "training": "training: batch size, optimizer, schedule, augmentation, target"}


class StageMap(w.VBox):
    """Which stages a freeze depth freezes, and how many parameters still train."""

    def __init__(self, backbone: str, freeze_depth: int = 0, num_classes: int | None = 10):
        self.caption = w.HTML()
        self.view = FigureView()
        super().__init__([self.caption, self.view])
        self.show(backbone, freeze_depth, num_classes)

    @property
    def figure(self):
        return self.view.figure

    def show(self, backbone: str, freeze_depth: int, num_classes: int | None = 10) -> None:
        """Draw ``backbone`` frozen to ``freeze_depth``; the head (for ``num_classes``) only once known."""
        self.backbone, self.freeze_depth, self.num_classes = backbone, freeze_depth, num_classes
        spec = get_backbone(backbone)
        counts = list(spec.stage_param_counts().values())
        head = spec.head_params(num_classes) if num_classes else None
        trainable = sum(counts[freeze_depth:]) + (head or 0)
        head_text = f"{head:,} in the head for {num_classes} classes" if head else "the head once the classes are known"
        self.caption.value = (f"{backbone}: {freeze_depth} of {spec.num_stages} stages frozen; <b>{trainable:,}</b> "
                              f"of {sum(counts) + (head or 0):,} parameters train ({human_count(sum(counts))} in "
                              f"the backbone, {head_text})")
        self.view.show(plots.stage_map(spec.stage_param_counts(), freeze_depth, head))


class ComparisonPanel(JobPanel):
    """Fine-tune a pre-trained backbone and train it from scratch; curves and costs side by side.

    Keyword arguments set any control by its option name: ``ComparisonPanel(store, epochs=5)``.

    ``predict=True`` adds "your prediction" above the settings (fill it from code with `predict_with`): Run records
    it with the comparison (``panel.prediction``), and once both runs finish it shows beside what they measured
    (``panel.outcome``).
    """

    def __init__(self, store: RunStore | None = None, *, predict: bool = False, **values):
        options = shown_in("widgets")
        unknown = sorted(set(values) - {o.name for o in options})
        if unknown:
            raise ConfigError(f"the comparison panel has no option {', '.join(unknown)}; "
                              f"use {', '.join(o.name for o in options)}")
        backbone = values.get("backbone", default("backbone"))
        datasets = [*suggested_datasets(), "imagefolder:"]
        self.controls = {o.name: control(o, values.get(o.name, o.default), backbone,
                                         suggestions=datasets if o.name == "dataset" else None) for o in options}
        self.controls["backbone"].options = [(get_backbone(n).label(), n) for n in list_backbones()]
        self.controls["backbone"].value = backbone
        self.weights = w.HTML(layout={"margin": f"0 0 0 {STYLE['description_width']}"})
        self.stage_map = StageMap(backbone, self.controls["freeze_depth"].value, None)
        self.x_axis = toggles(options=[("FLOPs" if axis == "flops" else axis, axis) for axis in plots.X_AXES],
                              value="epoch", description="x axis")
        self.curves = FigureView()
        self.costs = w.HTML()
        self.result: Comparison | None = None
        self.prediction_box = PredictionBox(self.controls["target_acc"].value) if predict else None
        self.beside = PredictionBeside()
        self.prediction: Prediction | None = None  # recorded at Run
        self.outcome: Outcome | None = None  # once both runs finished
        self._live: dict[str, RunRecord] = {}
        self._summary: dict | None = None
        self._show_weights(backbone)
        self._follow_dataset()
        self.controls["backbone"].observe(self._backbone_changed, "value")
        self.controls["freeze_depth"].observe(lambda _: self._redraw_stage_map(), "value")
        self.controls["dataset"].observe(lambda _: self._follow_dataset(), "value")
        self.x_axis.observe(lambda _: self._draw(), "value")
        if predict:
            self.controls["target_acc"].observe(lambda change: self.prediction_box.show_target(change["new"]), "value")
        results = [self.x_axis, self.curves, self.costs, *([self.beside] if predict else [])]
        super().__init__(self._layout(), results, store)

    def _layout(self) -> list[w.Widget]:
        after = {"backbone": [self.weights], "freeze_depth": [self.stage_map]}
        main = [x for o in shown_in("widgets", "main") for x in (self.controls[o.name], *after.get(o.name, []))]
        sections = w.Accordion([w.VBox([self.controls[o.name] for o in shown_in("widgets", group)])
                                for group in SECTIONS], titles=tuple(SECTIONS.values()))
        return [*([self.prediction_box] if self.prediction_box else []), *main, sections]

    def values(self) -> dict:
        """What the controls hold, by option name."""
        return {name: widget.value for name, widget in self.controls.items()}

    def config(self) -> ComparisonConfig:
        """The comparison the controls describe (checked, so bad values fail here with a clear message)."""
        return configs_from_values(self.values())[0]

    def _configs(self) -> list[ComparisonConfig]:
        return [self.config()]

    def predict_with(self, prediction: Prediction) -> "ComparisonPanel":
        """Fill "your prediction" from code (a notebook's own guesses); a bad one is a one-line `ConfigError`."""
        if self.prediction_box is None:
            raise ConfigError("this panel takes no prediction: make it with ComparisonPanel(..., predict=True)")
        self.prediction_box.fill(prediction)
        return self

    def _starting(self, job: Job) -> None:
        """Record the prediction under the comparison's id before anything trains (a bad one: nothing runs)."""
        if self.prediction_box is not None:
            prediction = replace(self.prediction_box.prediction(), comparison_id=job.comparison_ids[0], made=now_iso())
            Predictions(self.store.root).save(prediction)
            self.prediction = prediction

    def _backbone_changed(self, change) -> None:
        before = self.values()
        for o in shown_in("widgets"):
            follow_backbone(self.controls[o.name], o, change["new"])
        moved = [f"{o.label} {before[o.name]} became {self.controls[o.name].value}, the nearest {change['new']} takes"
                 for o in shown_in("widgets") if self.controls[o.name].value != before[o.name]]
        self._show_weights(change["new"], moved)
        self._redraw_stage_map()

    def _show_weights(self, backbone: str, moved: list[str] = ()) -> None:
        """Whether the weights are here, and any setting the new backbone moved into its range (said, not silent)."""
        ready, command = weights_status(backbone)
        self.weights.value = ("<span style='color:#2a7'>ImageNet weights are here: runs offline</span>" if ready else
                              f"<span style='color:#b60'>weights not here yet: <code>{html.escape(command)}</code>"
                              f"</span>") + "".join(f"<br>{html.escape(text)}" for text in moved)

    def _redraw_stage_map(self) -> None:
        self.stage_map.show(self.controls["backbone"].value, self.controls["freeze_depth"].value,
                            self.stage_map.num_classes)

    def _follow_dataset(self) -> None:
        """Size the head for the dataset's classes; counting them can take seconds, so off the cell's path."""
        dataset = self.controls["dataset"].value

        def count() -> None:
            classes = class_count(dataset)
            if dataset == self.controls["dataset"].value:
                self.stage_map.show(self.controls["backbone"].value, self.controls["freeze_depth"].value, classes)

        self.counting = threading.Thread(target=count, daemon=True, name="count-classes")
        self.counting.start()

    def _adopt(self, other: "ComparisonPanel") -> None:
        self._live, self._summary = dict(other._live), other._summary
        if self.prediction_box is not None and other.prediction is not None:
            self.prediction = other.prediction
            self.prediction_box.fill(other.prediction)
        self._draw()

    def _clear(self) -> None:
        self.result, self._summary, self._live, self.outcome = None, None, {}, None
        self.curves.show(None)
        self.costs.value = ""
        self.beside.clear()

    def _show(self, records: list[RunRecord]) -> None:
        self._live.update((r.run_id, r) for r in records)
        comparison = group_comparisons(list(self._live.values()))[records[-1].comparison_id]
        self._summary = comparison.summary()
        self._draw()

    def _draw(self) -> None:
        if self._summary is not None:
            self.curves.show(plots.learning_curves(self._summary, self.x_axis.value, live=self.result is None))
        if self.copied:  # the final results also show as plain outputs: refresh them
            self._leave_copies()

    def _finished(self, job: Job) -> None:
        results = job.results
        self.result = results[-1] if results else None
        if self.result is not None:
            self._summary = self.result.summary()
            self._draw()
            self.costs.value = cost_table_html(self._summary)
        if self.prediction is not None:
            self.outcome = None if self.result is None else outcome(self.prediction, self.result)
            self.beside.show(self.outcome)

    def _final_outputs(self) -> list[dict]:
        if self.result is None or self.curves.figure is None:
            return []
        return [figure_bundle(self.curves.figure), {"text/html": self.costs.value}, *self.beside.outputs()]
