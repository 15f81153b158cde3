"""The backbone explorer: static facts offline, measuring on this machine, the shared chart, and its faces."""

import json

import pytest
import torch
from test_cli import workbench

from workbench.cli.main import main
from workbench.core.errors import ConfigError
from workbench.explorer.measure import (
    LITE_TOP1,
    cached_measurement,
    describe_backbones,
    explorer_rows,
    forward_flops,
    measure_backbone,
)
from workbench.explorer.plots import backbone_chart, notes, table_cells
from workbench.models.backbones import TorchvisionWeights, get_backbone, list_backbones

SMALL = "mobilenet_v3_small"


def test_static_facts_need_no_weights_and_match_the_registry(torch_home):
    rows = describe_backbones(64)
    assert [row["name"] for row in rows] == list_backbones()
    for row in rows:
        backbone = get_backbone(row["name"])
        assert row["params"] == backbone.total_params()
        assert row["stages"] == backbone.stage_names()
        assert row["forward_flops"] > 0 and row["top1"] is not None, row["name"]
        if isinstance(backbone.weights, TorchvisionWeights):
            meta = backbone.weights.weights.meta
            assert row["top1"] == meta["_metrics"]["ImageNet-1K"]["acc@1"]
            assert row["params"] == meta["num_params"]
            # nothing downloaded: the size torchvision publishes for the download, in MiB
            assert (row["weights"], row["file_size_source"]) == ("missing", "download")
            assert row["file_bytes"] == int(meta["_file_size"] * 2**20)
        else:
            assert row["top1"] == LITE_TOP1[row["name"]]
            assert (row["weights"], row["file_size_source"]) == ("shipped", "file")
            assert row["file_bytes"] == backbone.weights.path.stat().st_size
    assert not any(row["latency_ms"] for row in explorer_rows(64))  # nothing measured at 64 px here


TORCHVISION = [name for name in list_backbones() if isinstance(get_backbone(name).weights, TorchvisionWeights)]


@pytest.mark.parametrize("name", TORCHVISION)
def test_forward_flops_agree_with_torchvision_published_multiply_adds(name):
    # torchvision's "_ops" are GFLOPs counted as multiply-adds at 224 px; ours count a multiply-add as 2
    published = get_backbone(name).weights.weights.meta["_ops"] * 1e9
    assert forward_flops(name, 224) / 2 == pytest.approx(published, rel=0.01)


def test_flops_grow_with_the_image_size():
    assert forward_flops("resnet18", 128) == pytest.approx(4 * forward_flops("resnet18", 64), rel=0.02)


def test_too_small_an_image_is_one_line():
    with pytest.raises(ConfigError, match="image size 16 is too small"):
        describe_backbones(16)


def test_measuring_a_small_backbone_offline_gives_positive_numbers_and_is_cached(torch_home):
    threads = torch.get_num_threads()
    result = measure_backbone(SMALL, 32, device="cpu")
    assert result["latency_ms"] > 0 and result["train_img_s"] > 0
    assert result["threads"] == threads and result["device"] == "cpu"
    assert cached_measurement(SMALL, 32, device="cpu") == result
    row = explorer_rows(32, [SMALL], device="cpu")[0]
    assert row["latency_ms"] == result["latency_ms"] and row["train_img_s"] == result["train_img_s"]
    assert any("measured on this machine" in line for line in notes([row]))


def test_a_thread_count_is_used_for_the_measurement_only():
    before = torch.get_num_threads()
    assert measure_backbone(SMALL, 32, device="cpu", threads=1)["threads"] == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        measure_backbone(SMALL, 32, threads=0)


def _measured_rows(size: int = 64) -> list[dict]:
    """Every backbone's static facts with made-up timings: the chart's input without minutes of measuring."""
    rows = describe_backbones(size)
    for index, row in enumerate(rows, start=1):
        row.update(latency_ms=float(index), train_img_s=100.0 / index)
    return rows


def _points(figure) -> int:
    return sum(len(trace.x) for trace in figure.data if trace.type == "scatter")


def test_the_chart_draws_one_point_and_one_bar_per_backbone():
    rows = _measured_rows()
    figure = backbone_chart(rows)
    assert _points(figure) == len(rows) == len(list_backbones())
    bars = [trace for trace in figure.data if trace.type == "bar"]
    assert len(bars) == 1 and len(bars[0].x) == len(rows)
    assert "latency" in figure.layout.xaxis.title.text and "throughput" in figure.layout.annotations[1].text
    assert sorted(bars[0].x) == sorted(row["train_img_s"] for row in rows)


def test_before_measuring_the_chart_shows_what_needs_no_measuring():
    rows = describe_backbones(64)
    figure = backbone_chart(rows)
    assert _points(figure) == len(rows)
    assert "FLOPs" in figure.layout.xaxis.title.text and "file size" in figure.layout.annotations[1].text
    assert _points(backbone_chart(rows, x="latency_ms")) == 0  # no point is drawn without its number


def test_the_table_has_a_cell_per_column_and_says_where_the_size_comes_from(torch_home):
    header, cells = table_cells(describe_backbones(64, ["efficientnet_lite0", "resnet18"]))
    assert header[0] == "backbone" and all(len(line) == len(header) for line in cells)
    size = header.index("model file")
    assert cells[0][size] == "18 MB" and cells[1][size] == "45 MB (download)"


def test_cli_measures_the_backbones_named_and_prints_json(tmp_path):
    result = workbench("backbones", "--measure", "--image-size", "32", "--threads", "1", "--json", SMALL, "resnet18",
                       env_extra={"TORCH_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == [SMALL, "resnet18"]
    for row in rows:
        assert row["latency_ms"] > 0 and row["train_img_s"] > 0 and row["threads"] == 1
        assert row["image_size"] == 32 and row["forward_flops"] > 0
    assert rows[1]["weights"] == "missing" and rows[1]["how_to_get"] == "workbench weights fetch resnet18"
    assert result.stderr.count("measured ") == 2


def test_cli_table_without_measuring_and_mistakes_in_one_line(capsys):
    assert main(["backbones", "--image-size", "96"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["backbone", "params", "stages"]
    assert [line.split()[0] for line in lines[1:len(list_backbones()) + 1]] == list_backbones()
    assert any("counted at 96 px" in line for line in lines)
    for args, message in ((["--image-size", "8"], "error: image size 8 is too small"),
                          (["alexnet"], "error: unknown backbone 'alexnet'"),
                          (["--measure", "--threads", "0", SMALL], "error: threads must be at least 1")):
        assert main(["backbones", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_widget_shows_the_facts_then_measures_with_the_same_chart():
    from workbench.widgets import BackboneExplorer

    panel = BackboneExplorer(image_size=32, names=[SMALL, "efficientnet_lite0"])
    assert [row["name"] for row in panel.result] == [SMALL, "efficientnet_lite0"]
    assert _points(panel.figure) == 2 and "FLOPs" in panel.figure.layout.xaxis.title.text
    assert "efficientnet_lite0" in panel.table.value and "forward FLOPs" in panel.notes.value
    panel.measure.click()
    assert all(row["latency_ms"] > 0 and row["train_img_s"] > 0 for row in panel.result)
    assert "latency" in panel.figure.layout.xaxis.title.text and _points(panel.figure) == 2
    assert "measured on this machine" in panel.notes.value and not panel.measure.disabled
    panel.x_axis.value = "params"
    assert panel.figure.layout.xaxis.title.text.startswith("parameters")


APP = """
from workbench.dashboard.explorer import explorer_tab
explorer_tab()
"""


def test_dashboard_tab_waits_for_the_toggle_then_shows_what_was_measured():
    from streamlit.testing.v1 import AppTest

    measure_backbone(SMALL, 32)  # the engine's cache is the server's: the tab shows it without measuring
    at = AppTest.from_string(APP, default_timeout=120)
    at.run()
    assert not at.exception and not at.get("plotly_chart")
    at.toggle(key="explorer-on").set_value(True).run()
    at.selectbox(key="explorer-size").set_value(32).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == len(list_backbones())
    measured = table[table["backbone"] == SMALL].iloc[0]
    assert measured["latency ms/img"] != "-" and table[table["backbone"] == "vgg16"].iloc[0]["latency ms/img"] == "-"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert sum(len(trace.get("x", [])) for trace in chart["data"] if trace["type"] == "scatter") == len(table)
