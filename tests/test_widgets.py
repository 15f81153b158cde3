"""The notebook widgets driven from code, as a notebook cell would."""

from workbench.config import ComparisonConfig, RunConfig
from workbench.widgets import ComparisonPanel, StageMap, SweepPanel, cost_table_html, lr_finder

TINY = dict(dataset="digits:0-2", train_per_class=4, image_size=32, epochs=2)


def test_the_freeze_slider_and_stage_map_follow_the_backbone(store):
    panel = ComparisonPanel(store)
    assert panel.freeze.max == 6
    panel.backbone.value = "resnet18"
    assert panel.freeze.max == 5
    panel.freeze.value = 5
    assert "5 of 5 stages frozen" in panel.stage_map.caption.value
    assert list(panel.stage_map.figure.data[0].y) == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]


def test_run_click_trains_a_comparison_and_the_panel_keeps_it(store):
    panel = ComparisonPanel(store, **TINY)
    panel.freeze.value = 6
    panel.run.click()
    panel.wait()
    assert panel.job.state == "completed" and panel.progress.value == 1.0
    summary = panel.result.summary()
    assert summary["transfer"]["trainable_params"] == 1280 * 3 + 3
    names = {trace.name for trace in panel.curves.data}
    assert {"transfer val", "scratch val"} <= names
    val = next(t for t in panel.curves.data if t.name == "scratch val")
    assert list(val.y) == [e["val_acc"] for e in summary["scratch"]["epochs"]]
    assert panel.costs.value == cost_table_html(summary)
    assert not panel.run.disabled and panel.stop.disabled


def test_stop_saves_the_runs_as_interrupted(store):
    panel = ComparisonPanel(store, **{**TINY, "epochs": 50})
    stopped = []
    original = panel._on_epoch

    def stop_after_first_epoch(record):
        original(record)
        if not stopped:
            stopped.append(record.run_id)
            panel.stop.click()

    panel._on_epoch = stop_after_first_epoch
    panel.run.click()
    panel.wait()
    assert panel.job.state == "interrupted"
    (record,), _ = store.scan()
    assert record.status == "interrupted" and 1 <= len(record.epochs) < 50


def test_bad_values_show_an_error_and_start_nothing(store):
    panel = ComparisonPanel(store, **TINY)
    panel.seeds.value = "zero"
    panel.run.click()
    assert "seeds must be whole numbers" in panel.status.value and panel.job is None


def test_sweep_panel_plots_one_point_per_comparison(store):
    base = ComparisonConfig(RunConfig(**{**TINY, "epochs": 1}))
    panel = SweepPanel(base, store, parameter="freeze_depth", values="0 6")
    panel.run.click()
    panel.wait()
    assert [p["freeze_depth"] for p in panel.points] == [0, 6]
    transfer = next(t for t in panel.figure.data if t.name == "transfer")
    assert list(transfer.x) == [0, 6]


def test_stage_map_counts_trainable_parameters():
    stage_map = StageMap("resnet18", 5, num_classes=2)
    assert "<b>1,026</b>" in stage_map.caption.value


def test_lr_finder_helper_returns_result_and_figure():
    result, figure = lr_finder(RunConfig(**TINY), steps=8)
    assert list(figure.data[0].x) == result.lrs
