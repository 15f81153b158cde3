"""The dashboard driven through Streamlit's AppTest: widgets, real tiny comparisons, what each page is shown."""

import base64
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from app_pages import DASHBOARD, app_page
from streamlit.testing.v1 import AppTest
from test_gathered import burst, three_sessions_each

from workbench.core import network
from workbench.core.metrics import METRICS
from workbench.dashboard.owners import dataset_viewer
from workbench.dashboard.text import plain
from workbench.data.gathered.shelf import DatasetShelf
from workbench.experiments.comparisons import group_comparisons
from workbench.jobs.queue import JobQueue
from workbench.models.backbones import get_backbone
from workbench.present.report import comparison_rows
from workbench.store.runs import RunStore


def _figure(chart) -> dict:
    return json.loads(chart.proto.spec)


def _values(array) -> list:
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _wait_for(store: RunStore, count: int, timeout: float = 300) -> None:
    """Until ``count`` runs are recorded and the dashboard's job has ended."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        records, _ = store.scan()
        jobs = [t for t in threading.enumerate() if t.name.startswith("workbench-")]
        if len(records) >= count and all(r.status != "running" for r in records) and not jobs:
            return
        time.sleep(0.5)
    pytest.fail(f"the dashboard's runs did not finish: {[(r.role, r.status, len(r.epochs)) for r in records]}, "
                f"jobs {[t.name for t in jobs]}")


_page = app_page


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    st.cache_resource.clear()  # each test starts with no job from an earlier one
    return _page(), RunStore(tmp_path / "runs")


def _tiny(at, epochs: int = 2):
    at.selectbox(key="dataset").set_value("digits:0-4")
    at.number_input(key="train_per_class").set_value(3)
    at.number_input(key="epochs").set_value(epochs)
    at.select_slider(key="image_size").set_value(32)
    return at.run()


def _measured(at):
    """The page again once its server has measured what its estimate needs (in a browser, the line's timer)."""
    from workbench.dashboard.estimate import measurer

    deadline = time.monotonic() + 120
    while measurer.busy():
        assert time.monotonic() < deadline, "the server is still measuring"
        time.sleep(0.05)
    return at.run()


def _chart(at, test) -> dict:
    return next(f for f in map(_figure, at.get("plotly_chart")) if test(f))


def test_an_empty_store_offers_the_default_demo(app):
    at, store = app
    assert "No runs yet" in at.info[0].value
    assert at.button(key="demo").label == "Run the default demo"
    assert f"Runs saved in `{store.root.resolve().name}`" in at.caption[0].value  # a class page: the name only
    assert str(store.root.resolve()) not in at.caption[0].value


def test_the_stage_map_follows_the_backbone_and_shows_the_head_that_always_trains(app):
    at, _ = app
    assert at.slider(key="freeze_depth").max == 6  # efficientnet_lite0
    at.selectbox(key="backbone").set_value("resnet18").run()
    assert at.slider(key="freeze_depth").max == 5
    at.slider(key="freeze_depth").set_value(5).run()
    bars = _figure(at.sidebar.get("plotly_chart")[0])["data"][0]
    assert list(bars["y"]) == ["stem", "layer1", "layer2", "layer3", "layer4", "head (new)"]
    assert _values(bars["x"])[-1] == get_backbone("resnet18").head_params(6)  # textures: 6 classes
    assert [t.split()[-1] for t in bars["text"]] == ["frozen"] * 5 + ["trains"]
    _measured(at)
    assert "weights fetch resnet18" in at.sidebar.caption[0].value or "on this machine" in at.sidebar.caption[0].value


def test_switching_backbone_keeps_the_freeze_depth_or_the_nearest_and_says_so(app):
    at, _ = app
    at.slider(key="freeze_depth").set_value(3).run()
    at.selectbox(key="backbone").set_value("resnet18").run()  # 5 stages instead of 6: 3 still fits
    assert at.slider(key="freeze_depth").value == 3 and at.slider(key="freeze_depth").max == 5
    at.selectbox(key="backbone").set_value("efficientnet_lite0").run()
    at.slider(key="freeze_depth").set_value(6).run()
    at.selectbox(key="backbone").set_value("resnet18").run()
    assert at.slider(key="freeze_depth").value == 5
    note = "resnet18 takes freeze depth (stages) 0 to 5: 6 became 5, the nearest"
    assert note in [c.value for c in at.sidebar.caption]
    at.run()
    assert at.slider(key="freeze_depth").value == 5 and note in [c.value for c in at.sidebar.caption]
    at.slider(key="freeze_depth").set_value(4).run()
    assert note not in [c.value for c in at.sidebar.caption]


def test_a_launch_shows_its_own_comparison_live_and_after_and_its_costs(app):
    at, store = app
    _tiny(at)
    at.slider(key="freeze_depth").set_value(3)
    at.button(key="launch").click().run()
    assert not at.exception
    _wait_for(store, 2)
    at.run()
    charts = list(map(_figure, at.get("plotly_chart")))
    curves = next(f for f in charts if any(t.get("name") == "transfer val" for t in f["data"]))
    assert {"transfer val", "scratch val", "transfer train", "scratch train", "target 90%"} <= {
        t["name"] for t in curves["data"]}
    assert len(_values(next(t for t in curves["data"] if t["name"] == "scratch val")["y"])) == 2

    (first,) = group_comparisons(store.scan()[0]).values()
    shown = at.table[0].value
    expected = comparison_rows(first.summary())
    assert list(shown.index) == [plain(r[0]) for r in expected]  # 'achieved FLOP/s': Markdown-escaped
    assert list(shown["transfer"]) == [plain(r[1]) for r in expected]
    assert list(shown["scratch"]) == [plain(r[2]) for r in expected]

    at.slider(key="freeze_depth").set_value(6)
    at.button(key="launch").click().run()  # a second launch: its comparison replaces the first on screen
    job = at.selectbox(key="chosen").value
    assert job != first.comparison_id and job.startswith("c-")
    _wait_for(store, 4)
    at.run()
    assert at.selectbox(key="chosen").value == job
    assert group_comparisons(store.scan()[0])[job].transfer[0].config["freeze_depth"] == 6

    at.radio(key="x_axis").set_value("flops").run()
    assert _chart(at, lambda f: "training FLOPs" in json.dumps(f["layout"]))


def test_a_job_that_ends_while_its_page_is_drawn_is_shown_not_left_frozen(app, monkeypatch):
    """A first calibration in the sidebar took longer than a tiny job (four at once, typed in quick succession:
    20 s): the page read the run folder before the job's records existed and the job as ended after, and stayed as
    "No runs yet" with Launch greyed out and nothing to refresh it (seen in CI, then with a click 0.3 s after
    typing). It must show the job's curves."""
    from workbench.dashboard import sidebar

    at, store = app
    _tiny(at)
    drawn = sidebar.stage_map

    def slow_sidebar(*args, **kwargs):
        if any(t.name.startswith("workbench-") for t in threading.enumerate()):
            _wait_for(store, 2)  # the job trains and ends meanwhile
        drawn(*args, **kwargs)

    monkeypatch.setattr(sidebar, "stage_map", slow_sidebar)
    at.button(key="launch").click().run()
    assert not at.exception
    assert any(t.get("name") == "transfer val" for f in map(_figure, at.get("plotly_chart")) for t in f["data"])
    assert not at.button(key="launch").disabled


def test_a_page_saves_its_owner_token_before_the_rest_of_it_is_drawn(tmp_path, monkeypatch):
    """The cookie that makes a reload the same person is written at the sidebar's foot, early. Written at the page's
    end, a page reloaded while its first run was still drawing (a first calibration, a busy class server) came back
    as another browser's, read-only (seen in CI: the page reloaded after another page's error)."""
    from workbench.dashboard import app as dashboard

    def still_drawing(*args, **kwargs):
        raise RuntimeError("the rest of the page is not drawn yet")

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(dashboard, "demo", still_drawing)
    at = AppTest.from_file(DASHBOARD, default_timeout=120).run()
    assert at.exception  # the run ended in the main area, before its end
    token = at.session_state["_owner_token"]
    assert any(f"workbench_owner={token};" in html.proto.body for html in at.sidebar.get("html"))


def test_the_live_chart_redraws_only_once_it_has_an_epoch_and_less_often_than_the_progress_line():
    """Each new figure is drawn afresh by the browser: eight pages redrawing every 2 s took more of a class server's
    two cores than the training did. A job in line or before its first epoch has no chart to redraw."""
    from types import SimpleNamespace

    from workbench.dashboard.app import (
        CURVES_REFRESH_SECONDS,
        FIRST_REFRESH_SECONDS,
        REFRESH_SECONDS,
        WAITING_REFRESH_SECONDS,
        curves_refresh,
        refresh_every,
    )

    board = SimpleNamespace(active=lambda: None)
    queued, running = SimpleNamespace(state="queued"), SimpleNamespace(state="running")
    assert curves_refresh(queued, first_epoch_due=True) is None and curves_refresh(None, False) is None
    assert curves_refresh(running, first_epoch_due=True) is None
    assert curves_refresh(running, first_epoch_due=False) == CURVES_REFRESH_SECONDS > REFRESH_SECONDS
    assert refresh_every(queued, True, board, teacher=False) == WAITING_REFRESH_SECONDS > REFRESH_SECONDS
    assert refresh_every(running, True, board, teacher=False) == FIRST_REFRESH_SECONDS < REFRESH_SECONDS
    assert refresh_every(running, False, board, teacher=False) == REFRESH_SECONDS
    assert refresh_every(None, False, board, teacher=False) is None


def _costs_page(summary: dict) -> None:
    from workbench.dashboard.views import costs

    costs(summary, summary["comparison_id"])


def test_a_stopped_comparisons_cost_table_reads_as_text_not_as_markdown():
    """st.table reads each cell as Markdown: the '-' of a number never measured was drawn as an empty bullet."""
    transfer = {"status": "interrupted", "epochs": [], **{m.key: None for m in METRICS}}
    at = AppTest.from_function(_costs_page, args=({"comparison_id": "c-1", "transfer": transfer, "scratch": None},))
    at.run()
    assert not at.exception
    shown = at.table[0].value
    cells = list(shown["transfer"]) + list(shown["scratch"]) + list(shown.index)
    assert "-" in [c.replace("\\", "") for c in cells] and set(shown["scratch"]) == {plain("not run (stopped)")}
    assert not [c for c in cells if re.match(r"\s*([-+*]|\d+[.)])(\s|$)", c)]  # none of them a list item


def test_compare_runs_joins_only_comparisons_that_differ_in_one_setting(app):
    at, store = app
    _tiny(at)
    at.radio(key="mode").set_value("sweep").run()
    at.selectbox(key="sweep").set_value("freeze_depth").run()
    at.text_input(key="sweep_values:freeze_depth:efficientnet_lite0").set_value("0 6").run()
    at.button(key="launch").click().run()
    _wait_for(store, 4)
    at.run()
    at.radio(key="mode").set_value("comparison")
    at.select_slider(key="image_size").set_value(48)  # another image size: not on the sweep's line
    at.button(key="launch").click().run()
    _wait_for(store, 6)
    at.session_state["view_tab"] = "Compare runs"  # only the open tab is drawn
    at.run()
    assert not at.exception
    sweep = _chart(at, lambda f: f["layout"].get("xaxis", {}).get("title", {}).get("text") == "freeze depth (stages)")
    assert _values(next(t for t in sweep["data"] if t["name"] == "transfer")["x"]) == [0, 6]
    assert _values(sweep["layout"]["xaxis"]["tickvals"]) == [0, 6]
    assert sweep["layout"]["yaxis"]["title"]["text"] == "test acc"
    held = next(c.value for c in at.caption if "held fixed" in c.value).replace("\\", "")  # drawn as text
    assert "image size (px) 32" in held and "epochs 2" in held


def test_a_corrupt_record_is_shown_as_such_and_the_page_keeps_going(app):
    at, store = app
    (store.root / "r-broken").mkdir(parents=True)
    (store.root / "r-broken" / "record.json").write_text('{"run_id": "r-bro')
    at.run()
    assert not at.exception


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "not-here", "does not exist"),
    (lambda root: root.mkdir() or root, "no images found"),
])
def test_a_bad_folder_is_refused_under_launch_before_anything_starts(app, tmp_path, make, message, monkeypatch):
    at, store = app
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--data-root", str(tmp_path)])  # a class page reads folders there
    at.selectbox(key="dataset").set_value("your image folder").run()
    at.text_input(key="dataset_folder").set_value(str(make(tmp_path / "photos"))).run()
    at.button(key="launch").click().run()
    assert message in at.sidebar.error[0].value
    assert not at.main.error and not store.root.exists()  # nothing in the main area; no job, no run


def test_an_offline_backbone_is_refused_with_the_command_that_fixes_it(app, torch_home, monkeypatch):
    at, store = app
    monkeypatch.setattr(network, "online", lambda host=None: False)
    at.selectbox(key="backbone").set_value("resnet18").run()
    at.button(key="launch").click().run()
    error = at.sidebar.error[0].value
    assert "resnet18 has no ImageNet weights" in error and "workbench weights fetch resnet18" in error
    assert "--" not in error.replace("\\", "") and not store.root.exists()  # (drawn as text: marks escaped)


def test_errors_belong_to_the_page_that_made_them(app, tmp_path, monkeypatch):
    mine, store = app
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--data-root", str(tmp_path)])  # a class page reads folders there
    other = _page("someone-else")
    folder = tmp_path / "photos"
    for name in ("cats", "dogs"):  # names that look like images, contents that are not: only training finds out
        (folder / name).mkdir(parents=True)
        for i in range(4):
            (folder / name / f"{i}.jpg").write_text("not a picture")
    mine.selectbox(key="dataset").set_value("your image folder").run()
    mine.text_input(key="dataset_folder").set_value(str(tmp_path / "missing")).run()
    mine.button(key="launch").click().run()
    assert "does not exist" in mine.sidebar.error[0].value
    mine.text_input(key="dataset_folder").set_value(str(folder)).run()
    mine.button(key="launch").click().run()
    _wait_for(store, 0)
    mine.run()
    assert "the last job stopped" in mine.sidebar.error[0].value
    other.run()
    assert not other.error and not other.sidebar.error


def test_stop_belongs_to_its_page_and_a_reload_brings_back_its_settings(app, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_JOBS", "1")
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--max-epochs", "0"])  # a long job: past the class's limit
    at, store = app
    _tiny(at, epochs=200)  # far more than the test will wait for
    at.text_input(key="student_name").set_value("Ada").run()
    at.button(key="launch").click().run()
    deadline = time.time() + 180
    while time.time() < deadline and not any(r.epochs for r in store.scan()[0]):
        time.sleep(0.3)
    reload = _page(at.query_params["session"], browser=at)
    assert reload.number_input(key="epochs").value == 200
    assert reload.selectbox(key="dataset").value == "digits:0-4"
    assert reload.text_input(key="student_name").value == "Ada"
    stranger = _page("a-stranger")
    assert stranger.button(key="stop").disabled and not stranger.button(key="launch").disabled
    _tiny(stranger)
    stranger.button(key="launch").click().run()  # one job trains at a time: this one waits in line
    assert "number 1 in line" in stranger.get("progress")[0].proto.text
    assert "Ada" in stranger.expander[0].label or any("Ada" in m.value for m in stranger.markdown)
    stranger.button(key="stop").click().run()  # leaves the line; Ada's job trains on
    assert [job["state"] for job in JobQueue(store.root).jobs()] == ["running", "cancelled"]
    assert not reload.button(key="stop").disabled
    reload.button(key="stop").click().run()
    _wait_for(store, 1)
    reload.run()
    (record,) = store.scan()[0]
    assert record.status == "interrupted" and 1 <= len(record.epochs) < 200
    assert "stopped" in reload.warning[0].value
    assert not reload.button(key="launch").disabled
    stranger.run()
    assert not any("stopped" in w.value for w in stranger.warning)  # the stop is told to its own page only


def test_a_teacher_page_stops_anyones_job(app, monkeypatch):
    at, store = app
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--max-epochs", "0"])
    _tiny(at, epochs=200)
    at.button(key="launch").click().run()
    deadline = time.time() + 180
    while time.time() < deadline and not any(r.epochs for r in store.scan()[0]):
        time.sleep(0.3)
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--teacher"])
    teacher = _page("the-teacher")
    (job,) = JobQueue(store.root).jobs()
    assert any("teacher mode" in c.value for c in teacher.caption)
    assert any("training queue" in e.label and e.proto.expanded for e in teacher.expander)
    teacher.button(key=f"stop-{job['job_id']}").click().run()
    _wait_for(store, 1)
    (record,) = store.scan()[0]
    assert record.status == "interrupted" and JobQueue(store.root).jobs()[0]["state"] == "interrupted"


def _picker_page(comparisons: dict, job) -> None:
    from workbench.dashboard.views import pick_comparison

    pick_comparison(comparisons, job)


def test_no_ghost_comparisons_in_the_picker_after_a_stop_before_the_first_epoch_or_leaving_the_queue(app):
    """Issue 22: a Stop while the data loaded left an entry waiting "for the first epoch…", and a job that left the
    queue one "starting…", for ever, even after a reload."""
    from types import SimpleNamespace

    from workbench.core.records import EpochRecord, RunRecord

    at, store = app
    ghost = RunRecord("t-ghost", {"dataset": "digits:0-4"}, "transfer", "c-20260101-000000-ghost", "interrupted")
    store.save(ghost)
    at.run()  # only a ghost in the store: the page still offers the demo, not a picker waiting for ever
    assert not at.exception and at.button(key="demo")
    epoch = EpochRecord(epoch=1, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, lrs=[1e-3], epoch_s=1.0,
                        cum_s=1.0, images_seen=10, epoch_flops=1, train_flops=1, trainable_params=1, total_params=1,
                        freeze_depth=0, features_cached=False, peak_mem_bytes=1, throughput=1.0)
    real = RunRecord("t-real", {"dataset": "digits:0-4"}, "transfer", "c-20260101-000001-real", "interrupted",
                     epochs=[epoch])
    comparisons = group_comparisons([ghost, real])
    assert comparisons["c-20260101-000000-ghost"].empty and not comparisons["c-20260101-000001-real"].empty
    left = SimpleNamespace(comparison_ids=["c-20260101-000002-left"], active=False, current_comparison=None)
    page = AppTest.from_function(_picker_page, args=(comparisons, left))
    page.run()
    (offered,) = page.selectbox(key="chosen").options  # the one with an epoch; neither the ghost nor "starting…"
    assert not page.exception and offered.endswith("interrupted (01/01 00:00)")


def test_a_gathered_dataset_trains_where_the_run_folder_was_named_relative(tmp_path, monkeypatch):
    """`streamlit run dashboard.py` in a folder: its run folder is ./runs. A dataset made in Your images must
    train (a probe: Launch said "this server reads no image folder typed on a class page"); settings it cannot
    train with are said under Launch before the click, and an image added is new data to the estimate."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_RUNS", "runs")
    st.cache_resource.clear()
    at = _page(argv=())  # a class page started with no options (an earlier test's stay in sys.argv otherwise)
    shelf, viewer = DatasetShelf(Path("runs")), dataset_viewer(at.session_state["_owner_token"])
    three_sessions_each(shelf, "desk", viewer)  # three sessions of three frames a class: one session trains
    at.run()
    at.selectbox(key="dataset").set_value("gathered:desk")
    at.number_input(key="epochs").set_value(1)
    at.select_slider(key="image_size").set_value(32)
    at.run()
    assert plain("labels per class (--train-per-class) is 10, but class cup has only 3 training images") in " ".join(
        w.value for w in at.sidebar.warning)
    at.number_input(key="train_per_class").set_value(2).run()
    assert not at.sidebar.warning
    at.button(key="launch").click().run()
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    store = RunStore(tmp_path / "runs")
    _wait_for(store, 2)
    records = store.scan()[0]
    assert [r.status for r in records] == ["completed", "completed"]
    assert {r.config["dataset"] for r in records} == {f"imagefolder:{(tmp_path / 'runs/datasets/desk').resolve()}"}
    at.run()
    assert "this comparison: already in the run folder (0 s)" in [c.value for c in at.sidebar.caption]
    assert shelf.add_images("desk", "cup", burst(5), viewer, kind="play").refused == []
    _measured(at.run())
    assert any(c.value.startswith("this comparison: about ") for c in at.sidebar.caption), [
        c.value for c in at.sidebar.caption]


def test_settings_beyond_the_servers_limits_are_refused_under_launch_and_never_measured(app, monkeypatch):
    """A probe: a link asking for VGG-16 at 260 px kept a class server measuring for minutes (6 GB, a core), for
    settings its Launch would refuse. Now the refusal is said under Launch, before the click, and nothing runs."""
    import workbench.dashboard.estimate as estimate

    at, _ = app
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--max-image-size", "64"])
    measured = []
    monkeypatch.setattr(estimate.measurer, "ask", lambda page, settings, runs: measured.append(settings))
    _tiny(at)
    at.select_slider(key="image_size").set_value(96).run()
    assert plain("this launch uses 96 px images; this server takes at most 64 px") in " ".join(
        w.value for w in at.sidebar.warning)
    assert not [m for m in measured if '"image_size": 96' in m] and not any(c.value.startswith("this comparison:")
                                                           for c in at.sidebar.caption)
