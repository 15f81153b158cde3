"""The notebook widgets driven from code, as a notebook cell would."""

import json
import time
from pathlib import Path

import pytest

from workbench.core.errors import ConfigError
from workbench.core.metrics import ACCURACIES
from workbench.models.backbones import get_backbone
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.options import SWEEPABLE
from workbench.store.predictions import Prediction, Predictions
from workbench.widgets import ComparisonPanel, StageMap, SweepPanel, cost_table_html, lr_finder
from workbench.widgets.views import PLOTLY_MIME

TINY = dict(dataset="digits:0-2", train_per_class=4, image_size=32, epochs=2)
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _sample(panel, until, seconds: float = 120.0) -> list[tuple[float, float, str]]:
    """(time, progress, status) every 0.1 s while the panel's run goes on, until ``until(panel)``."""
    samples, start = [], time.monotonic()
    while not until(panel) and time.monotonic() - start < seconds:
        samples.append((time.monotonic() - start, panel.progress.value, panel.status.value))
        time.sleep(0.1)
    return samples


def test_the_freeze_slider_and_stage_map_follow_the_backbone(store):
    panel = ComparisonPanel(store)
    freeze = panel.controls["freeze_depth"]
    assert freeze.max == 6
    panel.controls["backbone"].value = "resnet18"
    assert freeze.max == 5
    freeze.value = 5
    panel.counting.join()
    assert "5 of 5 stages frozen" in panel.stage_map.caption.value
    assert list(panel.stage_map.figure.data[0].y) == ["stem", "layer1", "layer2", "layer3", "layer4", "head (new)"]


def test_a_backbone_with_fewer_stages_keeps_the_nearest_freeze_depth_and_says_so(store):
    panel = ComparisonPanel(store, freeze_depth=3)
    panel.controls["backbone"].value = "resnet18"
    assert panel.controls["freeze_depth"].value == 3 and "became" not in panel.weights.value
    panel.controls["backbone"].value = "efficientnet_lite0"
    panel.controls["freeze_depth"].value = 6
    panel.controls["backbone"].value = "resnet18"
    assert panel.controls["freeze_depth"].value == 5
    assert "freeze depth (stages) 6 became 5, the nearest resnet18 takes" in panel.weights.value
    panel.counting.join()


def test_the_cost_table_of_a_comparison_stopped_before_its_scratch_run_says_so():
    from workbench.core.metrics import METRICS

    transfer = {"status": "interrupted", "target_acc": 0.9, **{m.key: None for m in METRICS}}
    table = cost_table_html({"comparison_id": "c-1", "transfer": transfer, "scratch": None})
    assert table.count("<td>not run (stopped)</td>") == len(METRICS) + 1  # every measure, and the precision
    assert "transfer did not reach 90% val acc; scratch not run (stopped), so no verdict" in table


def test_the_head_is_sized_for_the_datasets_classes_and_the_counts_agree(store):
    panel = ComparisonPanel(store, dataset="digits:0-2", freeze_depth=6)
    panel.counting.join()
    backbone = get_backbone("efficientnet_lite0")
    assert panel.stage_map.num_classes == 3
    assert f"<b>{backbone.head_params(3):,}</b>" in panel.stage_map.caption.value
    label = dict((name, text) for text, name in panel.controls["backbone"].options)["efficientnet_lite0"]
    count = label.split(" · ")[1].split()[0]  # '3.4M' in 'efficientnet_lite0 · 3.4M params · trains offline'
    assert f"{count} in the backbone" in panel.stage_map.caption.value
    assert "runs offline" in panel.weights.value
    panel.controls["dataset"].value = "textures"
    panel.counting.join()
    assert panel.stage_map.num_classes == 6


def test_nothing_is_drawn_before_the_first_epoch(store):
    panel = ComparisonPanel(store, **TINY)
    assert panel.curves.figure is None and panel.curves.outputs == ()


def test_run_click_trains_a_comparison_and_the_panel_keeps_it(store):
    panel = ComparisonPanel(store, **{**TINY, "freeze_depth": 6})
    panel.run.click()
    panel.wait()
    assert panel.job.state == "completed" and panel.progress.value == 1.0
    summary = panel.result.summary()
    assert summary["transfer"]["trainable_params"] == 1280 * 3 + 3
    names = {trace.name for trace in panel.curves.figure.data}
    assert {"transfer val", "scratch val"} <= names
    val = next(t for t in panel.curves.figure.data if t.name == "scratch val")
    assert list(val.y) == [e["val_acc"] for e in summary["scratch"]["epochs"]]
    assert panel.costs.value == cost_table_html(summary)
    assert not panel.run.disabled and panel.stop.disabled
    assert panel.status.value.startswith("done")
    (output,) = panel.curves.get_state()["outputs"]  # the figure is widget state: a page reload draws it again
    figure = output["data"][PLOTLY_MIME]
    assert {"transfer val", "scratch val"} <= {trace["name"] for trace in figure["data"]}
    assert [bundle.keys() for bundle in panel._final_outputs()] == [output["data"].keys(), {"text/html"}]
    panel.x_axis.value = "seconds"
    val = next(t for t in panel.curves.figure.data if t.name == "scratch val")
    assert list(val.x) == [e["cum_s"] for e in summary["scratch"]["epochs"]]


def test_progress_and_status_move_at_least_once_a_second_during_a_run(store):
    panel = ComparisonPanel(store, **{**TINY, "epochs": 10, "train_per_class": 8})  # 2 steps an epoch, 40 in all
    panel.run.click()
    samples = _sample(panel, lambda p: p.stop.disabled)
    panel.wait()
    during = [s for s in samples if 0.0 < s[1] < 1.0]
    seconds = during[-1][0] - during[0][0]
    assert seconds > 3, "the run should last long enough to watch"
    assert len({s[1] for s in during}) >= min(5, seconds), "the progress bar should move each second, not jump"
    changes = [t for (t, _, status), (_, _, before) in zip(samples[1:], samples) if status != before]
    gaps = sorted(b - a for a, b in zip(changes, changes[1:]))
    assert len(gaps) >= 3, "the status line should keep moving"
    # about once a second; on a busy machine a rare update comes late
    assert gaps[int(0.9 * len(gaps))] <= 1.3 and gaps[-1] <= 3.0, f"the status line stood still: {gaps}"


def test_stop_ends_the_run_within_seconds_and_keeps_it_as_interrupted(store):
    panel = ComparisonPanel(store, **{**TINY, "epochs": 200})
    panel.run.click()
    _sample(panel, lambda p: p.curves.figure is not None)  # the first epoch is drawn
    clicked = time.monotonic()
    panel.stop.click()
    panel.wait()
    latency = time.monotonic() - clicked
    (record,), _ = store.scan()
    assert panel.job.state == "interrupted" and record.status == "interrupted" and 1 <= len(record.epochs) < 200
    epoch_s = max(e.epoch_s for e in record.epochs)  # the run checks for Stop before every step
    assert latency < 2 * epoch_s + 1.5, f"Stop took {latency:.1f} s; an epoch takes {epoch_s:.1f} s"
    assert panel.status.value.startswith("stopped")


def test_a_new_run_clears_the_previous_results(store):
    panel = ComparisonPanel(store, **{**TINY, "epochs": 1})
    panel.run.click()
    panel.wait()
    assert panel.costs.value
    panel.controls["epochs"].value = 200
    panel.run.click()
    assert panel.curves.figure is None and panel.costs.value == "" and panel.result is None
    panel.stop.click()
    panel.wait()


def test_bad_values_show_an_error_and_start_nothing(store):
    panel = ComparisonPanel(store, **TINY)
    panel.controls["seeds"].value = "zero"
    panel.run.click()
    assert "seeds must be whole numbers" in panel.status.value and panel.job is None


def test_a_misspelled_option_is_named_in_one_line(store):
    with pytest.raises(ConfigError, match="no option epoch; use backbone"):
        ComparisonPanel(store, epoch=3)


def test_predict_then_run_records_the_prediction_and_shows_it_beside_the_result(store):
    """Issue 24: the prediction is saved under the comparison's id before anything trains; once both runs finish
    the panel shows it beside what they measured (bars and a table, the student's words escaped)."""
    panel = ComparisonPanel(store, predict=True, **{**TINY, "epochs": 1})
    assert panel.settings.children[0].children[0] is panel.prediction_box and panel.beside in panel.children
    panel.predict_with(Prediction("transfer", 1, 0.8, 0.4, why="ImageNet <b>sees</b> edges"))
    panel.run.click()
    panel.wait()
    saved = Predictions(store.root).get(panel.result.comparison_id)
    assert saved == panel.prediction and saved.comparison_id == panel.job.comparison_ids[0] and saved.made
    assert (saved.first, saved.by_epochs, saved.transfer_acc, saved.scratch_acc) == ("transfer", 1, 0.8, 0.4)
    measured = panel.outcome.measured
    assert panel.outcome.prediction == saved and measured.transfer_acc == panel.result.summary()["transfer"]["test_acc"]
    bars = panel.beside.view.figure.data
    assert [t.name for t in bars] == ["predicted", "measured"]
    assert [list(t.y) for t in bars] == [[0.8, 0.4], [measured.transfer_acc, measured.scratch_acc]]
    table = panel.beside.table.value
    assert "<td>transfer, 1 epoch sooner</td>" in table and "<td>80 %</td>" in table
    assert f"<td>{100 * measured.scratch_acc:.0f} %</td>" in table
    assert "ImageNet &lt;b&gt;sees&lt;/b&gt; edges" in table and "<b>sees" not in table
    assert [bundle.keys() for bundle in panel._final_outputs()][2:] == [{PLOTLY_MIME, "text/plain"}, {"text/html"}]


def test_a_bad_prediction_is_refused_in_one_line_and_nothing_runs(store):
    panel = ComparisonPanel(store, predict=True, **TINY)
    with pytest.raises(ConfigError, match="transfer accuracy is a fraction from 0 to 1"):
        panel.predict_with(Prediction("transfer", 1, 1.5, 0.4))
    panel.prediction_box.first.value, panel.prediction_box.by_epochs.value = "neither", 3
    panel.run.click()
    assert "when neither network reaches the target first" in panel.status.value and "\n" not in panel.status.value
    assert panel.job is None and panel.prediction is None and not Predictions(store.root).all()
    plain = ComparisonPanel(store, **TINY)  # without predict=True the panel is as it was
    assert plain.prediction_box is None and plain.beside not in plain.children
    with pytest.raises(ConfigError, match="predict=True"):
        plain.predict_with(Prediction("transfer", 1, 0.8, 0.4))


def test_sweep_panel_plots_one_point_per_comparison(store):
    base = ComparisonConfig(RunConfig(**{**TINY, "epochs": 1}))
    panel = SweepPanel(base, store, parameter="freeze_depth", values="0 6")
    assert panel.figure is None
    panel.run.click()
    panel.wait()
    assert [p["freeze_depth"] for p in panel.points] == [0, 6]
    transfer = next(t for t in panel.figure.data if t.name == "transfer")
    assert list(transfer.x) == [0, 6]


def test_sweep_panel_draws_a_grid_as_a_heatmap_of_what_pre_training_bought(store):
    base = ComparisonConfig(RunConfig(**{**TINY, "epochs": 1}))
    panel = SweepPanel(base, store, parameter="freeze_depth", values="0 6", parameter2="epochs", values2="1 2")
    assert len(panel._configs()) == 4
    panel.run.click()
    panel.wait()
    (heatmap,) = panel.figure.data
    assert heatmap.type == "heatmap" and list(heatmap.x) == ["0", "6"] and list(heatmap.y) == ["1", "2"]
    assert all(v is not None for row in heatmap.z for v in row)


def test_sweep_panel_offers_every_sweepable_option_and_accuracy(store):
    panel = SweepPanel(store=store)
    assert [name for _, name in panel.parameter.options] == list(SWEEPABLE)
    assert [key for _, key in panel.metric.options] == [m.key for m in ACCURACIES]
    panel.parameter.value = "lr"
    assert panel.values.value == "0.0001 0.0003 0.001 0.003"


def test_stage_map_counts_trainable_parameters():
    stage_map = StageMap("resnet18", 5, num_classes=2)
    assert "<b>1,026</b>" in stage_map.caption.value


def test_lr_finder_helper_returns_result_and_figure():
    result, figure = lr_finder(RunConfig(**TINY), steps=8)
    assert list(figure.data[0].x) == result.lrs


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_the_tutorials_are_kept_without_outputs(path):
    """Executed notebooks are not committed: outputs and widget state would add megabytes per notebook."""
    notebook = json.loads(path.read_text())
    assert "widgets" not in notebook["metadata"]
    for cell in notebook["cells"]:
        assert not cell.get("outputs") and cell.get("execution_count") is None, cell["source"][:1]


def test_progress_and_curves_sit_above_the_settings_which_fold_away_on_run(store):
    """Issue 22: the curves sat under ~800 px of controls. Now Run, Stop and progress come first, then the status
    and the results; the settings follow in an accordion, open until Run folds it."""
    panel = ComparisonPanel(store, **TINY)
    children = list(panel.children)
    top = children[0].children
    assert panel.run in top and panel.stop in top and panel.progress in top
    assert children.index(panel.curves) < children.index(panel.settings)
    assert children.index(panel.costs) < children.index(panel.settings)
    assert panel.controls["backbone"] not in children and panel.settings.selected_index == 0
    panel.run.click()
    assert panel.settings.selected_index is None
    panel.wait()


def test_a_panel_made_again_with_the_same_settings_takes_over_the_run_still_training(store):
    """Issue 22: after a page reload the cell comes back empty; running it again must show the run that still
    trains in the kernel (progress, curves so far, the rest), not start another."""
    first = ComparisonPanel(store, **{**TINY, "epochs": 200})
    first.run.click()
    _sample(first, lambda p: p.curves.figure is not None)  # an epoch is drawn
    again = ComparisonPanel(store, **{**TINY, "epochs": 200})  # the cell run again
    assert again.job is first.job and again.curves.figure is not None and again.stop.disabled is False
    again.run.click()  # the tutorial's cell clicks Run: the run is already this panel's
    assert again.job is first.job
    points = len(again.curves.figure.data[0].x)
    _sample(again, lambda p: len(p.curves.figure.data[0].x) > points, seconds=60)
    assert len(again.curves.figure.data[0].x) > points, "the new panel should gain the run's next epochs"
    first._follower.join(timeout=5)  # the old panel's follower ends at its next tick
    assert not first._follower.is_alive() and first.run.disabled and "followed by the panel" in first.status.value
    other = ComparisonPanel(store, **{**TINY, "epochs": 199})  # other settings: a panel of its own
    assert other.job is None
    again.stop.click()
    again.wait()
    assert again.job.state == "interrupted" and not again.run.disabled


def test_a_waiting_cell_ends_when_its_page_is_reloaded_and_the_run_goes_on(store):
    """A reloaded page's connection asks for the kernel's info; the cell waiting on the old page ends with
    PageReloaded (so the kernel is free for the cell to be run again) and the run keeps training. The old page's
    own reconnection (same session) does not count."""
    import asyncio

    from workbench.widgets import kernel
    from workbench.widgets.kernel import PageReloaded

    panel = ComparisonPanel(store, **{**TINY, "epochs": 200})
    panel.run.click()

    async def wait_and_reload():
        waiting = asyncio.ensure_future(panel.finished())
        await asyncio.sleep(0.5)
        kernel.CLIENTS.append("")  # the same session as the waiting cell's (no kernel here: "")
        await asyncio.sleep(0.5)
        assert not waiting.done()
        kernel.CLIENTS.append("a-new-page")  # F5: the new page connects
        return await asyncio.wait_for(waiting, 5)

    with pytest.raises(PageReloaded, match="run this cell again"):
        asyncio.run(wait_and_reload())
    assert panel.job.running, "the reload must not stop the run"
    panel.stop.click()
    panel.wait()


def test_in_voila_a_cell_does_not_train_and_leaves_no_copies(store, monkeypatch):
    """Voilà runs every cell before the page shows: a cell's Run trained for minutes behind a spinner, then the
    final copies showed every chart twice. In an app a run starts when a visitor presses Run."""
    import asyncio

    from workbench.widgets import job_panel, kernel

    monkeypatch.setenv("VOILA_KERNEL_ID", "k")
    panel = ComparisonPanel(store, **TINY)
    panel.run.click()  # from the cell
    assert panel.job is None and "press <b>Run</b>" in panel.status.value
    asyncio.run(panel.finished())  # returns at once: nothing to wait for
    monkeypatch.setattr(kernel, "clicked_in_page", lambda: True)
    panel.run.click()  # a visitor's click
    assert panel.job is not None
    panel.wait()
    shown = []
    monkeypatch.setattr(job_panel, "display", lambda *a, **k: shown.append(a))
    monkeypatch.setattr(job_panel, "get_ipython", lambda: type("Shell", (), {"kernel": object()})())
    panel._leave_copies()
    assert panel.result is not None and shown == [] and not panel.copied


def test_the_cost_table_says_when_the_machine_was_busy():
    run = {"test_acc": 0.9, "target_acc": 0.9, "machine_busy": "the machine was busy during the transfer run (other "
                                                                 "programs used 60% of its CPU); compare FLOPs, not seconds"}
    assert "compare FLOPs, not seconds" in cost_table_html({"transfer": run, "scratch": {"test_acc": 0.5, "target_acc": 0.9}})


def test_the_dataset_builder_makes_fills_and_checks_a_dataset_on_the_dashboards_shelf(tmp_path):
    import io

    from PIL import Image
    from skimage import data as photos

    from workbench.data.gathered.shelf import DatasetShelf
    from workbench.widgets import DatasetBuilder

    def png(k: int) -> bytes:
        out = io.BytesIO()
        Image.fromarray(photos.astronaut()[64 * k:64 * k + 100, 64 * k:64 * k + 100]).save(out, format="PNG")
        return out.getvalue()

    refused = DatasetBuilder("bad", ["a/b", "c"], runs_dir=tmp_path)
    assert "may hold only" in refused.status.value and refused.dataset is None
    builder = DatasetBuilder("mine", ["cup", "pen"], runs_dir=tmp_path)
    assert [row.children[0].description for row in builder.uploads.children] == ["cup: upload", "pen: upload"]
    for session in range(3):
        builder.add("cup", [(f"{session}.png", png(session))])
        builder.add("pen", [(f"{session}.png", png(session + 3))])
    assert builder.add("pen", [("notes.txt", b"hello")]).refused and "skipped 1" in builder.status.value
    readiness = builder.check()
    assert readiness.ready and readiness.sessions == {"cup": 3, "pen": 3} and "ready to train" in builder.checks.value
    assert builder.spec == DatasetShelf(tmp_path).open("mine").spec
    assert DatasetBuilder("mine", runs_dir=tmp_path).dataset is None  # no classes given: opened on Make / open
    reopened = DatasetBuilder("mine", runs_dir=tmp_path)
    reopened.make.click()
    assert reopened.dataset.count() == 6
