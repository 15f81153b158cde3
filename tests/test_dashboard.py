"""The dashboard driven through Streamlit's AppTest: widgets, a real tiny comparison, what is shown."""

import base64
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from workbench.report import comparison_rows
from workbench.runs import RunStore
from workbench.experiment import group_comparisons

DASHBOARD = str(Path(__file__).resolve().parents[1] / "dashboard.py")


def _figure(chart) -> dict:
    return json.loads(chart.proto.spec)


def _values(array) -> list:
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _wait_for(store: RunStore, count: int, timeout: float = 240) -> None:
    """Until ``count`` runs are recorded and the dashboard's job thread has ended."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        records, _ = store.scan()
        jobs = [t for t in threading.enumerate() if t.name.startswith("workbench-")]
        if len(records) >= count and all(r.status != "running" for r in records) and not jobs:
            return
        time.sleep(0.5)
    pytest.fail("the dashboard's runs did not finish")


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    st.cache_resource.clear()  # each test starts with no job from an earlier one
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.run()
    assert not at.exception
    return at, RunStore(tmp_path / "runs")


def _tiny(at):
    sidebar = at.sidebar
    sidebar.selectbox[1].set_value("digits:0-4")
    sidebar.number_input[3].set_value(3)  # labels per class
    sidebar.number_input[4].set_value(2)  # epochs
    sidebar.select_slider[2].set_value(32)  # image size


def test_an_empty_store_offers_the_default_demo(app):
    at, _ = app
    assert "No runs yet" in at.info[0].value
    assert at.button(key="demo").label == "Run the default demo"


def test_the_freeze_slider_follows_the_backbone(app):
    at, _ = app
    assert at.sidebar.slider[0].max == 6  # efficientnet_lite0
    at.sidebar.selectbox[0].set_value("resnet18").run()
    assert at.sidebar.slider[0].max == 5
    stage_map = _figure(at.sidebar.get("plotly_chart")[0])
    assert list(stage_map["data"][0]["y"]) == ["stem", "layer1", "layer2", "layer3", "layer4"]


def test_launch_a_comparison_and_see_both_curves_and_the_recorded_costs(app):
    at, store = app
    _tiny(at)
    at.sidebar.slider[0].set_value(3)
    at.button(key="launch").click().run()
    assert not at.exception
    _wait_for(store, 2)
    at.run()
    assert not at.exception
    charts = [_figure(c) for c in at.get("plotly_chart")]
    curves = next(f for f in charts if any(t.get("name") == "transfer val" for t in f["data"]))
    names = {t["name"] for t in curves["data"]}
    assert {"transfer val", "scratch val", "transfer train", "scratch train"} <= names
    scratch_val = next(t for t in curves["data"] if t["name"] == "scratch val")
    assert len(_values(scratch_val["y"])) == 2

    (comparison,) = group_comparisons(store.scan()[0]).values()
    summary = comparison.summary()
    shown = at.dataframe[0].value
    expected = comparison_rows(summary)
    assert list(shown["measure"]) == [r[0] for r in expected]
    assert list(shown["transfer"]) == [r[1] for r in expected]
    assert list(shown["scratch"]) == [r[2] for r in expected]
    assert summary["transfer"]["trainable_params"] < summary["scratch"]["trainable_params"]

    at.radio(key="x_axis").set_value("flops").run()
    curves = next(_figure(c) for c in at.get("plotly_chart") if "training FLOPs" in json.dumps(_figure(c)["layout"]))
    assert curves


def test_a_sweep_from_the_sidebar_plots_accuracy_against_the_swept_setting(app):
    at, store = app
    _tiny(at)
    at.sidebar.radio[1].set_value("sweep").run()
    at.sidebar.selectbox[2].set_value("freeze_depth").run()
    at.sidebar.text_input[1].set_value("0 6").run()
    at.button(key="launch").click().run()
    _wait_for(store, 4)
    at.run()
    assert not at.exception
    sweep = next(_figure(c) for c in at.get("plotly_chart") if _figure(c)["layout"].get("xaxis", {}).get("title", {}).get("text") == "freeze depth")
    transfer = next(t for t in sweep["data"] if t["name"] == "transfer")
    assert _values(transfer["x"]) == [0, 6]


def test_a_corrupt_record_is_shown_as_such_and_the_page_keeps_going(app):
    at, store = app
    (store.root / "r-broken").mkdir(parents=True)
    (store.root / "r-broken" / "record.json").write_text('{"run_id": "r-bro')
    at.run()
    assert not at.exception


def test_bad_input_is_a_one_line_error_in_the_sidebar(app):
    at, store = app
    at.sidebar.selectbox[1].set_value("imagefolder:PATH").run()
    at.sidebar.text_input[0].set_value("/definitely/not/here").run()
    at.button(key="launch").click().run()
    for _ in range(20):
        at.run()
        if at.error:
            break
        time.sleep(0.5)
    assert "does not exist" in at.error[0].value


def test_stop_ends_the_runs_and_they_are_saved_as_interrupted(app):
    at, store = app
    _tiny(at)
    at.sidebar.number_input[4].set_value(200)  # epochs: far more than the test will wait for
    at.button(key="launch").click().run()
    deadline = time.time() + 120
    while time.time() < deadline and not any(r.epochs for r in store.scan()[0]):
        time.sleep(0.3)
    at.run()
    at.button(key="stop").click().run()
    _wait_for(store, 1)
    at.run()
    (record,) = store.scan()[0]
    assert record.status == "interrupted" and 1 <= len(record.epochs) < 200
    assert "stopped" in at.warning[0].value
    assert not at.button(key="launch").disabled
