"""Inside the networks: each view on a tiny real comparison, predict and export round trips, pruning, bad uploads."""

import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from workbench.cli.main import main
from workbench.core.errors import ConfigError, DataError, RunStoreError
from workbench.core.records import RunRecord
from workbench.experiments.runner import run_comparison
from workbench.inside import features, filters, gradcam, mistakes, movement, photo
from workbench.inside.export import export_model
from workbench.inside.networks import load_networks
from workbench.models.backbones import StagedNet, get_backbone, list_backbones
from workbench.spec.config import ComparisonConfig
from workbench.store.runs import RunStore
from workbench.training.build import restore_model

FROZEN = 2  # the transfer run freezes stem and stage1: they must not move at all


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny real comparison (digits 0-2, 4 images a class, 48 px: Grad-CAM gets a 2x2 grid)."""
    from workbench.spec.config import RunConfig

    config = RunConfig(dataset="digits:0-2", train_per_class=4, image_size=48, epochs=1, batch_size=6,
                       max_eval_per_class=5, device="cpu", freeze_depth=FROZEN)
    store = RunStore(tmp_path_factory.mktemp("inside") / "runs")
    comparison = run_comparison(ComparisonConfig(config), store)
    return store, comparison, load_networks(store, comparison.comparison_id)


def _png(size=(40, 30), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_comparison_keeps_both_runs_weights(compared):
    store, comparison, _ = compared
    for record in comparison.transfer + comparison.scratch:
        assert store.checkpoint_path(record.run_id).stat().st_size > 1e6


def test_what_moved_frozen_stages_not_at_all_and_scratch_from_its_own_start(compared):
    _, _, networks = compared
    moved = movement.what_moved(networks)
    stages = get_backbone("efficientnet_lite0").stage_names()
    assert list(moved["transfer"]) == [*stages, "head"]
    assert all(moved["transfer"][s] == 0.0 for s in stages[:FROZEN])
    assert all(moved["transfer"][s] > 0 for s in stages[FROZEN:])
    # Rebuilt from its seed, the scratch start is the real one: two random inits would be ~1.4 apart.
    assert all(0 < v < 0.5 for v in moved["scratch"].values())
    assert "stem" in "\n".join(movement.describe(moved))


def test_first_layer_filters_imagenet_kept_when_the_stem_was_frozen(compared):
    _, _, networks = compared
    shown = filters.first_layer_filters(networks)
    imagenet, tuned, scratch = shown.values()
    assert list(shown)[0] == "ImageNet"
    assert imagenet.shape == (32, 3, 3, 3) and imagenet.dtype == np.uint8
    assert np.array_equal(imagenet, tuned)
    assert not np.array_equal(imagenet, scratch)


def test_feature_space_projects_every_validation_image_and_scores_it(compared):
    _, _, networks = compared
    space = features.feature_space(networks)
    n = len(networks.data.labels["val"])
    assert list(space.points) == ["ImageNet", "fine-tuned", "scratch"]
    for points in space.points.values():
        assert points["pca"].shape == points["tsne"].shape == (n, 2)
    assert all(0 <= acc <= 1 for acc in space.knn_acc.values())


def test_knn_accuracy_known_answers():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 10)
    apart = rng.normal(size=(30, 8)) * 0.1 + labels[:, None] * 5.0
    assert features.knn_accuracy(apart, labels) == 1.0
    assert features.knn_accuracy(rng.normal(size=(30, 8)), labels) < 0.7
    assert features.knn_accuracy(apart[:4], np.array([0, 0, 0, 1])) is None


def _two_square_net() -> StagedNet:
    """Class 0 is the red channel's mean, class 1 the green's: the evidence is wherever those are bright."""
    conv = nn.Conv2d(3, 3, 1, bias=False)
    head = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        head.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    return StagedNet([("conv", nn.Sequential(conv)), ("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))],
                     head)


def test_grad_cam_finds_the_evidence_of_each_class():
    x = torch.zeros(1, 3, 16, 16)
    x[0, 0, 2:6, 2:6] = 1.0  # red square top left
    x[0, 1, 10:14, 9:15] = 1.0  # green patch bottom right
    model = _two_square_net()
    red, green = gradcam.grad_cam(model, x.repeat(2, 1, 1, 1), [0, 1])
    assert red[2:6, 2:6].min() > 0.99 and red[8:, :].max() < 0.01
    assert green[10:14, 9:15].min() > 0.99 and green[:8, :].max() < 0.01


@pytest.mark.parametrize("name", list_backbones())
def test_grad_cam_layer_is_the_last_spatial_one_on_every_backbone(name):
    with torch.device("meta"):
        model = get_backbone(name).build(pretrained=False, num_classes=3)
    shapes = []
    gradcam.cam_layer(model).register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
    pooled = model.features(torch.empty(1, 3, 224, 224, device="meta"))
    assert len(shapes[0]) == 4 and shapes[0][-1] == 7 and pooled.dim() == 2


def test_where_it_looks_on_a_real_run(compared):
    _, _, networks = compared
    view = gradcam.where_it_looks(networks, count=6)
    assert view.images.shape == (6, 3, 48, 48) and view.grid == (2, 2)
    assert sorted(set(view.labels)) == [0, 1, 2]
    for role in ("transfer", "scratch"):
        heat = view.heatmaps[role]
        assert heat.shape == (6, 48, 48) and heat.min() >= 0 and heat.max() <= 1


def test_mistakes_reproduce_the_recorded_confusion_and_filter_by_cell(compared):
    _, comparison, networks = compared
    predictions = mistakes.test_predictions(networks)
    for role in ("transfer", "scratch"):
        p = predictions[role]
        assert p.confusion(3) == getattr(comparison, role)[0].confusion
        wrong = p.cell()
        assert all(p.labels[i] != p.predicted[i] for i in wrong)
        assert len(wrong) == int((p.labels != p.predicted).sum())
        assert [float(p.confidence[i]) for i in wrong] == sorted((float(p.confidence[i]) for i in wrong), reverse=True)
        for true in range(3):
            for predicted in range(3):
                cell = p.cell(true, predicted)
                assert len(cell) == p.confusion(3)[true][predicted]
                assert all(int(p.labels[i]) == true and int(p.predicted[i]) == predicted for i in cell)


def test_your_photo_both_networks_top_classes_and_heatmaps(compared):
    _, _, networks = compared
    view = photo.look_at_photo(networks, _png(), k=2)
    assert view.image.shape == (3, 48, 48)
    for role in ("transfer", "scratch"):
        probabilities = [p for _, p in view.top[role]]
        assert len(probabilities) == 2 and probabilities == sorted(probabilities, reverse=True)
        assert view.heatmaps[role].shape == (48, 48)


@pytest.mark.parametrize("data, message", [
    (b"hello, not a picture", "is not an image"),
    (b"", "is not an image"),
    (_png()[:60], "is not an image"),
    (b"\0" * (photo.MAX_UPLOAD_BYTES + 1), "over 20 MB"),
])
def test_bad_uploads_get_one_line(data, message):
    with pytest.raises(DataError, match=message) as caught:
        photo.read_photo(data, 48, "upload.jpg")
    assert "\n" not in str(caught.value)


def test_a_decompression_bomb_is_refused():
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, "PNG")  # 144 megapixels in a few hundred kB
    with pytest.raises(DataError, match="megapixels"):
        photo.read_photo(buffer.getvalue(), 48, "bomb.png")


def test_cli_predict_text_json_and_a_bad_file(compared, tmp_path, capsys):
    store, comparison, _ = compared
    run_id = comparison.transfer[0].run_id
    image = tmp_path / "red.png"
    image.write_bytes(_png())
    assert main(["predict", run_id, str(image), "--top", "2", "--json", "--runs-dir", str(store.root)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result[0]["image"] == str(image) and len(result[0]["top"]) == 2
    assert main(["predict", run_id, str(image), "--runs-dir", str(store.root)]) == 0
    assert capsys.readouterr().out.startswith(f"{image}: ")
    (tmp_path / "notes.txt").write_text("not an image")
    assert main(["predict", run_id, str(tmp_path / "notes.txt"), "--runs-dir", str(store.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_onnx_export_agrees_and_runs_with_onnxruntime_alone(compared, tmp_path, capsys):
    import onnxruntime

    store, comparison, networks = compared
    run_id = comparison.transfer[0].run_id
    out = tmp_path / "model.onnx"
    assert main(["export-model", run_id, "--format", "onnx", "-o", str(out), "--runs-dir", str(store.root)]) == 0
    assert "differ from the workbench's by at most" in capsys.readouterr().out
    session = onnxruntime.InferenceSession(str(out))
    meta = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    assert meta["classes"] == ["0", "1", "2"] and meta["image_size"] == 48
    images = networks.data.images["val"].permute(0, 2, 3, 1).numpy().astype(np.float32) / 255
    x = ((images - np.array(meta["mean"], np.float32)) / np.array(meta["std"], np.float32)).transpose(0, 3, 1, 2)
    logits = session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})[0]
    with torch.no_grad():
        expected = restore_model(store, run_id)(networks.inputs(networks.data.images["val"]))
    assert np.abs(logits - expected.numpy()).max() < 1e-4


def test_pt2_export_round_trip(compared, tmp_path):
    store, comparison, networks = compared
    report = export_model(store, comparison.scratch[0].run_id, "pt2", tmp_path / "model.pt2")
    assert report.max_abs_diff < 1e-4 and report.images == len(networks.data.labels["val"])
    loaded = torch.export.load(str(tmp_path / "model.pt2")).module()
    x = networks.inputs(networks.data.images["val"][:3])
    with torch.no_grad():
        assert torch.allclose(loaded(x), networks.trained["scratch"](x), atol=1e-4)


def test_an_export_that_disagrees_is_refused_with_the_number(compared, tmp_path, monkeypatch):
    from workbench.inside import export

    store, comparison, _ = compared
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # any difference, even 0, is now too large
    with pytest.raises(export.ExportError, match=r"differs from the workbench's logits by up to \d"):
        export_model(store, comparison.scratch[0].run_id, "pt2", tmp_path / "model.pt2")
    assert list(tmp_path.iterdir()) == []


def test_cli_inside_writes_one_self_contained_page(compared, tmp_path, capsys):
    store, comparison, _ = compared
    out = tmp_path / "inside.html"
    args = ["inside", comparison.comparison_id, "--view", "movement", "filters", "-o", str(out), "--runs-dir",
            str(store.root)]
    assert main(args) == 0
    text = out.read_text()
    assert "== What moved" in capsys.readouterr().out
    assert text.count("* plotly.js v") == 1 and "<script src=" not in text  # plotly.js embedded, once
    assert main(["inside", comparison.comparison_id, "--view", "photo", "--runs-dir", str(store.root)]) == 2
    assert "needs an image" in capsys.readouterr().err
    assert main(["inside", "c-nothing", "--runs-dir", str(store.root)]) == 2
    assert "no comparison 'c-nothing'" in capsys.readouterr().err


def _fake_run(store: RunStore, run_id: str, comparison_id: str | None, created: str, init_run: str | None = None):
    store.save(RunRecord(run_id, {"init_run": init_run}, role="transfer" if comparison_id else "single",
                         comparison_id=comparison_id, status="completed", created=created))
    store.save_checkpoint(run_id, {"w": torch.zeros(1000)})


def test_pruning_keeps_the_newest_comparisons_weights_and_every_record(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    _fake_run(store, "alone", None, "2026-01-01")  # trained on its own with --save-checkpoint
    _fake_run(store, "source", "c-old", "2026-01-02")  # a later run starts from it
    _fake_run(store, "old", "c-old", "2026-01-03")
    _fake_run(store, "middle", "c-middle", "2026-01-04", init_run="source")
    _fake_run(store, "new", "c-new", "2026-01-05")
    assert sorted(store.prune_checkpoints(keep=1)) == ["middle", "old"]
    kept = {r.run_id for r in store.scan()[0] if store.checkpoint_path(r.run_id).is_file()}
    assert kept == {"alone", "source", "new"}
    assert len(store.scan()[0]) == 5
    monkeypatch.setenv("WORKBENCH_KEEP_CHECKPOINTS", "lots")
    with pytest.raises(ConfigError, match="WORKBENCH_KEEP_CHECKPOINTS"):
        store.prune_checkpoints()


def test_checkpoint_sizes_count_a_shared_file_once(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    _fake_run(store, "a", "c-1", "2026-01-01")
    _fake_run(store, "b", "c-1", "2026-01-01")
    store.checkpoint_path("b").unlink()
    store.checkpoint_path("b").hardlink_to(store.checkpoint_path("a"))  # as a reused run links its source's
    assert sorted(store.checkpoint_sizes().values())[1] > 4000 and sum(store.checkpoint_sizes().values()) < 8000
    assert main(["checkpoints", "--keep", "0", "--runs-dir", str(store.root)]) == 0
    assert "pruned the weights of 2 run(s)" in capsys.readouterr().out


def test_a_pruned_comparison_says_why_it_cannot_be_shown(compared, tmp_path):
    store, comparison, _ = compared
    copy = RunStore(tmp_path / "runs")
    for record in comparison.transfer + comparison.scratch:
        copy.save(replace(record))
    with pytest.raises(RunStoreError, match="kept no weights.*run the comparison again"):
        load_networks(copy, comparison.comparison_id)


APP = """
import os
from workbench.dashboard.inside import inside_tab
from workbench.experiments.comparisons import load_comparison
from workbench.store.runs import RunStore
store = RunStore(os.environ["INSIDE_RUNS"])
inside_tab(store, load_comparison(store, os.environ["INSIDE_COMPARISON"]))
"""


def test_dashboard_tab_shows_the_views_and_picks_a_confusion_cell(compared, monkeypatch):
    from streamlit.testing.v1 import AppTest

    store, comparison, _ = compared
    monkeypatch.setenv("INSIDE_RUNS", str(store.root))
    monkeypatch.setenv("INSIDE_COMPARISON", comparison.comparison_id)
    at = AppTest.from_string(APP, default_timeout=300)
    at.run()
    assert not at.exception and not at.get("plotly_chart")  # nothing is computed until asked
    at.toggle[0].set_value(True).run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["What moved", "First-layer filters", "Feature space", "Where it looks",
                                         "Mistakes", "Your own photo"]
    at.selectbox(key="inside-true").set_value("1").run()
    at.selectbox(key="inside-predicted").set_value("1").run()
    cell = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert "true 1, predicted 1" in cell["layout"]["title"]["text"]


def test_inside_panel_views_cell_and_photo(compared):
    from workbench.widgets.inside import InsidePanel

    store, comparison, _ = compared
    panel = InsidePanel(comparison.comparison_id, store)
    assert len(panel.tabs.children) == 6 and set(panel.result) == {"movement", "filters", "features", "gradcam",
                                                                    "mistakes"}
    panel.role.value, panel.true.value, panel.predicted.value = "scratch", 0, 2
    assert "true 0, predicted 2" in panel.gallery.figure.layout.title.text
    panel.show_photo(b"not a photo", "notes.txt")
    assert panel.status.value.startswith("<span style='color:#b00'>error: notes.txt is not an image")
    panel.show_photo(_png(), "red.png")
    assert set(panel.result["photo"].top) == {"transfer", "scratch"} and panel.photo.figure is not None
    assert "error" in InsidePanel("c-missing", store).status.value
