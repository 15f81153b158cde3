"""ipywidgets panels for notebooks: the same engine and plot builders as the dashboard.

Every panel can be driven from code (set a control's ``value``, call ``.click()`` on a button)
and keeps what it produced (``panel.result``), so a later cell can read the numbers. Runs train
in a background thread: the Stop button works and the curves update after every epoch.

    from workbench.widgets import ComparisonPanel
    panel = ComparisonPanel(); panel            # then press Run, or: panel.run.click(); panel.wait()
"""

from __future__ import annotations

import html
import threading

import ipywidgets as w
import plotly.graph_objects as go

from workbench import plots
from workbench.backbones import get_backbone, list_backbones
from workbench.config import ComparisonConfig, RunConfig, parse_seeds
from workbench.errors import WorkbenchError
from workbench.data import SUGGESTED_DATASETS
from workbench.experiment import Comparison, load_comparison, parse_sweep_values, sweep_configs, sweep_points
from workbench.jobs import Job
from workbench.lr_finder import LRFinderResult, find_lr
from workbench.records import RunRecord
from workbench.report import backbone_label, comparison_rows, verdict
from workbench.runs import RunStore

WIDE = {"description_width": "150px"}


def _replace_figure(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Swap a FigureWidget's content in one update, so the cell output updates in place."""
    with widget.batch_update():
        widget.data = ()
        widget.add_traces(list(figure.data))
        widget.layout = figure.layout


def cost_table_html(summary: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                   for a, b, c in comparison_rows(summary))
    sentence = ""
    if summary.get("transfer") and summary.get("scratch"):
        sentence = f"<p><b>{html.escape(verdict(summary['transfer'], summary['scratch']))}</b></p>"
    return f"{sentence}<table><tr><th></th><th>transfer</th><th>scratch</th></tr>{rows}</table>"


class StageMap(w.VBox):
    """Which stages a freeze depth freezes, and how many parameters still train."""

    def __init__(self, backbone: str, freeze_depth: int = 0, num_classes: int = 10):
        self.figure = go.FigureWidget()
        self.caption = w.HTML()
        super().__init__([self.caption, self.figure])
        self.show(backbone, freeze_depth, num_classes)

    def show(self, backbone: str, freeze_depth: int, num_classes: int = 10) -> None:
        spec = get_backbone(backbone)
        counts = spec.stage_param_counts()
        head = spec.total_params(num_classes) - sum(counts.values())
        trainable = sum(list(counts.values())[freeze_depth:]) + head
        self.caption.value = (f"{backbone}: {freeze_depth} of {spec.num_stages} stages frozen; "
                              f"<b>{trainable:,}</b> of {trainable + sum(list(counts.values())[:freeze_depth]):,} "
                              f"parameters train")
        _replace_figure(self.figure, plots.stage_map(counts, freeze_depth, head))


class _JobPanel(w.VBox):
    """Run and Stop buttons, a progress bar and a status line around a background `Job`."""

    def __init__(self, controls: list[w.Widget], outputs: list[w.Widget], store: RunStore | None):
        self.store = store or RunStore()
        self.run = w.Button(description="Run", button_style="primary", icon="play")
        self.stop = w.Button(description="Stop", icon="stop", disabled=True)
        self.progress = w.FloatProgress(min=0.0, max=1.0, description="progress", style=WIDE)
        self.status = w.HTML()
        self.job: Job | None = None
        self._end_lock = threading.Lock()
        self._ended_job: Job | None = None
        self.run.on_click(lambda _: self._start())
        self.stop.on_click(lambda _: self.job and self.job.stop())
        super().__init__([*controls, w.HBox([self.run, self.stop]), self.progress, self.status, *outputs])

    def _configs(self) -> list[ComparisonConfig]:
        raise NotImplementedError

    def _on_epoch(self, record: RunRecord) -> None: ...

    def _finished(self) -> None: ...

    def _start(self) -> None:
        if self.job is not None and self.job.running:
            return
        try:
            configs = self._configs()
        except WorkbenchError as exc:
            self.status.value = f"<span style='color:#b00'>error: {html.escape(str(exc))}</span>"
            return
        self.run.disabled, self.stop.disabled = True, False
        self.progress.value = 0.0
        self.status.value = "training..."
        self.job = Job(configs, self.store, on_epoch=self._epoch_done, label=type(self).__name__).start()
        threading.Thread(target=self.wait, daemon=True).start()  # re-enables Run when the job ends

    def _epoch_done(self, record: RunRecord) -> None:
        self.progress.value = self.job.progress
        self.status.value = html.escape(self.job.message)
        self._on_epoch(record)

    def wait(self) -> "_JobPanel":
        """Block until the run ends (a notebook cell that reads ``result`` calls this first)."""
        if self.job is not None:
            try:
                job = self.job.wait()
            except KeyboardInterrupt:  # a kernel interrupt stops the runs; finished epochs are kept
                self.job.stop()
                job = self.job.wait()
                self._end()
                raise
            with self._end_lock:  # the watcher thread and a notebook cell may both get here
                if self._ended_job is not job:
                    self._ended_job = job
                    self._end()
        return self

    def _end(self) -> None:
        job = self.job
        self.run.disabled, self.stop.disabled = False, True
        self.progress.value = job.progress
        if job.state == "failed":
            self.status.value = f"<span style='color:#b00'>error: {html.escape(job.error or '')}</span>"
        else:
            self.status.value = html.escape(job.message)
        self._finished()


class ComparisonPanel(_JobPanel):
    """Fine-tune a pre-trained backbone and train it from scratch; curves and costs side by side."""

    def __init__(self, store: RunStore | None = None, **defaults):
        d = RunConfig(**{k: v for k, v in defaults.items() if k in RunConfig.__dataclass_fields__})
        scratch_lr = defaults.get("scratch_lr", ComparisonConfig().scratch_lr)
        self.backbone = w.Dropdown(options=[(backbone_label(n), n) for n in list_backbones()], value=d.backbone,
                                   description="backbone", style=WIDE, layout={"width": "520px"})
        self.freeze = w.IntSlider(value=d.freeze_depth, min=0, max=get_backbone(d.backbone).num_stages,
                                  description="freeze depth", style=WIDE)
        self.stage_map = StageMap(d.backbone, d.freeze_depth)
        self.lr = w.FloatLogSlider(value=d.lr, base=10, min=-5, max=-1, description="learning rate", style=WIDE,
                                   readout_format=".0e")
        self.scratch_lr = w.FloatLogSlider(value=scratch_lr, base=10, min=-5, max=-1, description="scratch lr",
                                           style=WIDE, readout_format=".0e")
        self.bn_policy = w.ToggleButtons(options=["frozen", "train"], value=d.bn_policy,
                                         description="BN in frozen stages", style=WIDE)
        self.backbone_mult = w.FloatLogSlider(value=d.lr_backbone_mult, base=10, min=-3, max=0,
                                              description="backbone LR x", style=WIDE, readout_format=".3f")
        self.layer_decay = w.FloatSlider(value=d.layer_decay, min=0.1, max=1.0, step=0.05,
                                         description="layer-wise decay", style=WIDE)
        self.unfreeze_every = w.BoundedIntText(value=d.unfreeze_every, min=0, max=100,
                                               description="unfreeze every N", style=WIDE)
        self.dataset = w.Combobox(value=d.dataset, options=SUGGESTED_DATASETS + ["imagefolder:"], description="dataset", style=WIDE,
                                  placeholder="digits, textures, imagefolder:/path ...")
        self.per_class = w.BoundedIntText(value=d.train_per_class, min=1, max=10_000, description="labels per class",
                                          style=WIDE)
        self.epochs = w.IntSlider(value=d.epochs, min=1, max=100, description="epochs", style=WIDE)
        self.image_size = w.Dropdown(options=[32, 48, 64, 96, 128, 160, 224], value=d.image_size,
                                     description="image size", style=WIDE)
        self.seeds = w.Text(value=" ".join(str(s) for s in defaults.get("seeds", [0])), description="seeds", style=WIDE)
        self.x_axis = w.ToggleButtons(options=[("epoch", "epoch"), ("seconds", "seconds"), ("FLOPs", "flops")],
                                      value="epoch", description="x axis", style=WIDE)
        self.curves = go.FigureWidget(plots.learning_curves({}))
        self.costs = w.HTML()
        self.result: Comparison | None = None
        self.backbone.observe(self._backbone_changed, "value")
        self.freeze.observe(lambda _: self.stage_map.show(self.backbone.value, self.freeze.value), "value")
        self.x_axis.observe(lambda _: self._redraw(), "value")
        controls = [self.backbone, self.freeze, self.stage_map, self.lr, self.scratch_lr, self.bn_policy,
                    w.Accordion([w.VBox([self.backbone_mult, self.layer_decay, self.unfreeze_every])],
                                titles=("discriminative LR / gradual unfreezing",)),
                    self.dataset, self.per_class, self.epochs, self.image_size, self.seeds]
        super().__init__(controls, [self.x_axis, self.curves, self.costs], store)

    def _backbone_changed(self, change) -> None:
        self.freeze.max = get_backbone(change["new"]).num_stages
        self.stage_map.show(change["new"], self.freeze.value)

    def config(self) -> ComparisonConfig:
        """The comparison the controls describe (checked, so bad values fail here with a clear message)."""
        seeds = parse_seeds(self.seeds.value)
        transfer = RunConfig(backbone=self.backbone.value, freeze_depth=self.freeze.value, lr=self.lr.value,
                             bn_policy=self.bn_policy.value, lr_backbone_mult=self.backbone_mult.value,
                             layer_decay=self.layer_decay.value, unfreeze_every=self.unfreeze_every.value,
                             dataset=self.dataset.value, train_per_class=self.per_class.value,
                             epochs=self.epochs.value, image_size=self.image_size.value)
        return ComparisonConfig(transfer, scratch_lr=self.scratch_lr.value, seeds=seeds).validate()

    def _configs(self) -> list[ComparisonConfig]:
        return [self.config()]

    def _on_epoch(self, record: RunRecord) -> None:
        self._redraw(record.comparison_id)

    def _redraw(self, comparison_id: str | None = None) -> None:
        comparison_id = comparison_id or (self.job.comparison_ids[-1] if self.job and self.job.comparison_ids else None)
        if comparison_id:
            summary = load_comparison(self.store, comparison_id).summary()
            _replace_figure(self.curves, plots.learning_curves(summary, self.x_axis.value))

    def _finished(self) -> None:
        results = self.job.results
        self.result = results[-1] if results else None
        if self.result is not None:
            self._redraw(self.result.comparison_id)
            self.costs.value = cost_table_html(self.result.summary())


class SweepPanel(_JobPanel):
    """Sweep freeze depth, learning rate or labels per class; each point a real comparison."""

    def __init__(self, base: ComparisonConfig | None = None, store: RunStore | None = None,
                 parameter: str = "freeze_depth", values: str = ""):
        self.base = base or ComparisonConfig()
        stages = get_backbone(self.base.transfer.backbone).num_stages
        self.parameter = w.Dropdown(options=["freeze_depth", "lr", "train_per_class"], value=parameter,
                                    description="sweep over", style=WIDE)
        self.values = w.Text(value=values or " ".join(str(d) for d in range(stages + 1)), description="values",
                             style=WIDE)
        self.metric = w.ToggleButtons(options=["test_acc", "best_val_acc"], value="test_acc", description="accuracy",
                                      style=WIDE)
        self.figure = go.FigureWidget()
        self.result: list[Comparison] = []
        self.points: list[dict] = []
        self.metric.observe(lambda _: self._plot(), "value")
        super().__init__([self.parameter, self.values], [self.metric, self.figure], store)

    def _configs(self) -> list[ComparisonConfig]:
        values = parse_sweep_values(self.values.value, self.parameter.value)
        return sweep_configs(self.base, self.parameter.value, values)

    def _on_epoch(self, record: RunRecord) -> None:
        if record.role == "scratch" and len(record.epochs) == record.config["epochs"]:
            self.result = self.job.results
            self._plot()

    def _finished(self) -> None:
        self.result = self.job.results
        self._plot()

    def _plot(self) -> None:
        self.points = sweep_points(self.result, self.parameter.value)
        _replace_figure(self.figure, plots.sweep_curve(self.points, self.parameter.value, self.metric.value))


def lr_finder(config: RunConfig | None = None, steps: int = 60) -> tuple[LRFinderResult, go.Figure]:
    """Run the learning-rate range test and return the result with its plot."""
    result = find_lr(config or RunConfig(), steps=steps)
    return result, plots.lr_finder_curve(result.lrs, result.losses, result.suggested_lr)
