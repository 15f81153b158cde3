"""The option spec is the one description of every option: config defaults, validation and the CLI follow it."""

import argparse
from dataclasses import replace

import pytest

from workbench.cli.main import build_parser
from workbench.core.errors import ConfigError
from workbench.experiments.grids import parse_sweep_values
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.options import OPTIONS, SWEEPABLE, option, shown_in


def _actions(command: str) -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {a.dest: a for a in sub._actions}


def test_config_defaults_are_the_spec_defaults():
    config, comparison = RunConfig(), ComparisonConfig()
    for o in OPTIONS:
        value = getattr(config if o.scope == "run" else comparison, o.name)
        assert value == (o.parse(o.default) if o.name == "seeds" else o.default), o.name


def test_the_cli_offers_exactly_the_spec_options_with_their_defaults():
    actions = _actions("compare")
    expected = {o.name for o in shown_in("cli")}
    assert expected <= set(actions)
    assert set(actions) - expected == {"help", "runs_dir", "json", "no_reuse"}  # where runs go, how they print, whether to reuse
    for o in shown_in("cli"):
        action = actions[o.name]
        assert o.cli_flag in action.option_strings
        if o.kind == "choice":
            assert action.metavar == "{" + ",".join(map(str, o.options_for())) + "}"
    train = _actions("train")
    assert not {o.name for o in OPTIONS if o.scope == "comparison"} & set(train)


@pytest.mark.parametrize("name, value, message", [
    ("bn_policy", "sometimes", "unknown bn_policy 'sometimes'; use one of frozen, train"),
    ("optimizer", "lion", "unknown optimizer 'lion'"),
    ("layer_decay", 1.5, "layer_decay must be at most 1"),
    ("train_per_class", 0, "train_per_class must be at least 1"),
    ("target_acc", 0.0, "target_acc must be at least 0.01"),
    ("weight_decay", -0.1, "weight_decay must be at least 0"),
    ("unfreeze_every", -1, "unfreeze_every must be at least 0"),
])
def test_validation_follows_the_spec(name, value, message):
    with pytest.raises(ConfigError, match=message):
        replace(RunConfig(), **{name: value}).validate()


def test_a_bad_scratch_rate_is_named():
    with pytest.raises(ConfigError, match="scratch_lr must be a positive number"):
        ComparisonConfig(scratch_lr=-1.0).validate()


def test_every_sweepable_option_parses_its_values():
    assert parse_sweep_values("0 3 6", "freeze_depth") == [0, 3, 6]
    assert parse_sweep_values("1e-4, 1e-3", "lr") == [1e-4, 1e-3]
    assert parse_sweep_values("frozen train", "bn_policy") == ["frozen", "train"]
    with pytest.raises(ConfigError, match="takes numbers"):
        parse_sweep_values("0 three", "freeze_depth")
    with pytest.raises(ConfigError, match="cannot sweep 'seed'"):
        parse_sweep_values("0 1", "seed")
    assert {"freeze_depth", "lr", "train_per_class"} <= set(SWEEPABLE)


def test_the_freeze_range_follows_the_backbone():
    assert option("freeze_depth").bounds("resnet18") == (0, 5)
    assert option("freeze_depth").bounds("efficientnet_lite0") == (0, 6)


def test_the_notebook_panel_offers_exactly_the_spec_options_with_their_ranges(tmp_path):
    from workbench.store.runs import RunStore
    from workbench.widgets import ComparisonPanel

    panel = ComparisonPanel(RunStore(tmp_path))
    assert list(panel.controls) == [o.name for o in shown_in("widgets")]
    for o in shown_in("widgets"):
        widget, (low, high) = panel.controls[o.name], o.bounds()
        offered = [v[1] if isinstance(v, tuple) else v for v in getattr(widget, "options", ())]
        assert (widget.description, widget.value) == (o.label, o.default), o.name
        if o.kind == "choice":
            assert offered == o.options_for(), o.name
        elif o.values:
            assert offered == [v for v in o.values if (low is None or v >= low) and (high is None or v <= high)], o.name
        elif o.kind in ("int", "float"):
            assert (widget.min, widget.max) == (low, high), o.name


def test_the_dashboard_sidebar_offers_exactly_the_spec_options_with_their_ranges(tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from workbench.data.loading import suggested_datasets

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard.py"), default_timeout=120).run()
    kinds = ("selectbox", "radio", "slider", "select_slider", "number_input", "checkbox", "text_input")
    widgets = {w.key: w for kind in kinds for w in getattr(at.sidebar, kind) if w.key in {o.name for o in OPTIONS}}
    assert set(widgets) == {o.name for o in shown_in("dashboard")}
    for o in shown_in("dashboard"):
        widget, (low, high) = widgets[o.name], o.bounds()
        assert widget.label == o.label, o.name
        if o.kind == "choice":
            shown = [label.split(" · ")[0] for label in widget.options]  # "resnet18 · download": the name first
            assert shown == [str(c) for c in o.options_for()], o.name
        elif o.values:
            assert widget.options == [o.show(v) for v in o.values if (low is None or v >= low) and (high is None or v <= high)], o.name
        elif o.kind in ("int", "float"):
            assert (widget.min, widget.max) == (low, high), o.name
        elif o.name == "dataset":
            assert widget.options == suggested_datasets() + ["your image folder"]
        assert widget.value == o.default, o.name


def test_one_function_turns_what_a_form_holds_into_comparisons():
    from workbench.experiments.grids import configs_from_values

    (config,) = configs_from_values({"freeze_depth": 3, "lr": 3e-4, "seeds": "0 1", "scratch_lr": 0.01})
    assert (config.transfer.freeze_depth, config.transfer.lr, config.seeds, config.scratch_lr) == (3, 3e-4, [0, 1], 0.01)
    assert config.transfer.epochs == option("epochs").default
    sweep = configs_from_values({"backbone": "resnet18"}, "freeze_depth", "0 5")
    assert [c.transfer.freeze_depth for c in sweep] == [0, 5]
    with pytest.raises(ConfigError, match="out of range"):
        configs_from_values({"backbone": "resnet18", "freeze_depth": 6})
    with pytest.raises(ConfigError, match="seeds must be whole numbers"):
        configs_from_values({"seeds": "abc"})
