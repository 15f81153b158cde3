"""An experiment as a link: settings in a page's address, read back as if typed, and never whose page it is."""

from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import streamlit as st
from app_pages import DASHBOARD
from streamlit.testing.v1 import AppTest

from workbench.dashboard.text import plain
from workbench.experiments.grids import configs_from_values
from workbench.jobs.queue import JobQueue
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.links import MAX_VALUE, comparison_values, run_values, settings_from_query, settings_query
from workbench.spec.options import shown_in

# A value other than the default for every option a dashboard page shows (a new option needs one here).
VALUES = {
    "backbone": "resnet18", "freeze_depth": 3, "lr": 0.000123456789, "scratch_lr": 1e-2, "bn_policy": "adapt",
    "lr_backbone_mult": 0.1, "layer_decay": 1 / 3, "unfreeze_every": 2, "dataset": "imagefolder:/data/my photos & co",
    "train_per_class": None, "epochs": 7, "image_size": 96, "seeds": [0, 1, 2], "batch_size": 32,
    "optimizer": "sgd", "schedule": "onecycle", "weight_decay": 0.0005, "augment": True, "target_acc": 0.85,
    "split_seed": 4, "precision": "bf16",
}


def _read(query: str) -> tuple[dict, list[str]]:
    """A query string as a page receives it (``+`` a space, ``%xx`` decoded), then read back."""
    return settings_from_query(dict(parse_qsl(query, keep_blank_values=True)))


def test_every_dashboard_option_survives_a_link_as_it_was():
    assert set(VALUES) == {o.name for o in shown_in("dashboard")}
    query = settings_query(VALUES)
    assert "seeds=0+1+2" in query and "lr=0.000123456789" in query and "train_per_class=none" in query
    values, problems = _read(query)
    assert values == VALUES and not problems
    assert settings_query({**VALUES, "seeds": "0 1 2"}) == query  # seeds as the form holds them: text


def test_only_the_dashboards_options_go_into_a_link_and_never_the_page():
    query = settings_query({"epochs": 3, "session": "abc123", "device": "cuda", "compile": True})
    assert query == "epochs=3"
    values, problems = settings_from_query({"session": "abc123", "epochs": "3"})
    assert values == {"epochs": 3} and "session" not in values
    assert problems == ["the link's session: no setting of this page; ignored"]


def test_a_bad_value_is_refused_in_one_line_and_the_rest_still_applies():
    values, problems = settings_from_query({"backbone": "resnet18", "freeze_depth": "9", "epochs": "three",
                                            "augment": "maybe", "lr": "nan", "batch_size": "32", "foo": "1",
                                            "bar": "2"}, current={"epochs": 5})
    assert values == {"backbone": "resnet18", "batch_size": 32}
    assert problems == [
        "the link's freeze_depth: freeze depth 9 is out of range; resnet18 has 5 stages, use 0..5; kept 0",
        "the link's lr: lr must be a positive number, got nan; kept 1e-3",
        "the link's epochs: epochs takes numbers, got 'three'; kept 5",
        "the link's augment: augment is on or off, got 'maybe'; kept off",
        "the link's foo, bar: no setting of this page; ignored",
    ]
    assert all("\n" not in p for p in problems)


def test_freeze_depth_is_checked_against_the_links_backbone_else_the_pages():
    assert settings_from_query({"backbone": "resnet18", "freeze_depth": "5"})[0]["freeze_depth"] == 5
    assert settings_from_query({"freeze_depth": "5"}, current={"backbone": "mobilenet_v3_small"})[1]
    values, problems = settings_from_query({"backbone": "no_such_net", "freeze_depth": "6"})
    assert values == {"freeze_depth": 6} and problems[0].startswith("the link's backbone: unknown backbone")


def test_a_long_value_or_one_with_a_line_break_is_refused_and_markup_stays_text():
    values, problems = settings_from_query({"dataset": "x" * (MAX_VALUE + 1), "seeds": "0\n1"})
    assert values == {} and len(problems) == 2
    assert problems[0].startswith(f"the link's dataset: {MAX_VALUE + 1} characters are longer than any setting")
    marked = "imagefolder:![x](http://127.0.0.1:9/p.png) **big**"
    assert _read(settings_query({"dataset": marked}))[0] == {"dataset": marked}  # a path is what was typed


def test_a_recorded_comparison_becomes_a_link_that_asks_for_the_same_comparison():
    config = ComparisonConfig(RunConfig(backbone="resnet18", freeze_depth=2, lr=3e-4, dataset="digits:0-4",
                                        train_per_class=3, epochs=4, image_size=32, augment=True), scratch_lr=1e-2,
                              seeds=[1, 2])
    values, problems = _read(settings_query(comparison_values(config)))
    assert not problems and "session" not in values
    assert configs_from_values(values)[0].to_dict() == config.to_dict()
    record = {"backbone": "resnet18", "epochs": 4, "seed": 7, "momentum": 0.5}  # an old record: the rest default
    assert run_values(record) == {**comparison_values(ComparisonConfig(RunConfig(backbone="resnet18", epochs=4))),
                                  "seeds": [7]}


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    st.cache_resource.clear()  # no job or page claim from an earlier test
    return tmp_path / "runs"


def test_a_page_opened_from_a_link_holds_its_settings_runs_nothing_and_forgets_the_link(runs):
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.query_params.update(backbone="resnet18", freeze_depth="2", epochs="3", lr="0.0005", image_size="32",
                           seeds="0 1", dataset="digits:0-4", augment="maybe", session="someones")
    at.query_params["[x](http://127.0.0.1:9/)"] = "1"  # a name no setting has, in Markdown: ignored, as text
    at.run()
    assert not at.exception
    assert at.selectbox(key="backbone").value == "resnet18" and at.slider(key="freeze_depth").value == 2
    assert at.number_input(key="epochs").value == 3 and at.select_slider(key="image_size").value == 32
    assert at.selectbox(key="dataset").value == "digits:0-4" and at.text_input(key="seeds").value == "0 1"
    assert at.select_slider(key="lr").value == 3e-4 and at.checkbox(key="augment").value is False
    assert set(at.query_params) == {"session"} and at.query_params["session"] != "someones"  # a page of one's own
    assert "epochs 3" in at.info[0].value and "nothing runs until Launch" in at.info[0].value
    refused = at.warning[0].value.split("  \n")  # one box, a line each
    assert len(refused) == 3 and "augment" in refused[0] and "kept off" in refused[0]
    assert refused[1] == plain("the link's [x](http://127.0.0.1:9/): no setting of this page; ignored")
    assert "slider" in refused[2] and "the nearest" in refused[2]  # 5e-4 is not on the rate's slider
    assert not JobQueue(runs).jobs()  # nothing launched
    link = at.sidebar.get("code")[0].value
    assert link.startswith("./?backbone=resnet18&freeze_depth=2&lr=0.0003") and "session" not in link
    at.number_input(key="epochs").set_value(4).run()  # a later change stays: the link is not read again
    assert at.number_input(key="epochs").value == 4 and "epochs=4" in at.sidebar.get("code")[0].value


def _again_page(config, runs_root):
    import streamlit as st

    from workbench.dashboard.links import again_link

    again_link(config, runs_root, st)


def test_run_this_again_links_a_comparisons_settings_and_a_gathered_dataset_by_name(tmp_path):
    gathered = tmp_path / "runs" / "datasets" / "leaves"
    config = ComparisonConfig(RunConfig(backbone="resnet18", epochs=4, dataset=f"imagefolder:{gathered}"), seeds=[3])
    at = AppTest.from_function(_again_page, args=(config, str(tmp_path / "runs"))).run()
    url = at.get("link_button")[0].proto.url
    assert url.startswith("./?backbone=resnet18&") and "session" not in url
    values, problems = _read(url.removeprefix("./?"))
    assert not problems and values["dataset"] == "gathered:leaves" and values["seeds"] == [3]
