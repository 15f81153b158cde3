"""Lessons and predictions: lesson files checked line by line, the shipped ones run end to end in quick mode, a
prediction kept and compared with what ran, and a dashboard page under a lesson."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from app_pages import DASHBOARD
from lesson_text import tiny_lesson
from streamlit.testing.v1 import AppTest
from test_dashboard import _wait_for

from workbench.cli.main import main
from workbench.core.errors import ConfigError, RunStoreError
from workbench.core.records import EpochRecord, RunRecord
from workbench.experiments.comparisons import Comparison
from workbench.experiments.predictions import class_outcomes, measured, outcome, surprises
from workbench.present.prediction_plots import predicted_vs_measured, prediction_beside_result
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.lesson_files import ClassLesson, find_lesson, parse_lesson, shipped_lessons
from workbench.store.predictions import Prediction, Predictions
from workbench.store.runs import RunStore


def _lesson(extra: str = "", **replace) -> str:
    text = tiny_lesson(extra=extra)
    for old, new in replace.items():
        text = text.replace(old.replace("_", " "), new)
    return text


def test_every_shipped_lesson_passes_the_check(capsys):
    names = list(shipped_lessons())
    assert len(names) == 4
    assert main(["lesson", "check", *names]) == 0
    assert capsys.readouterr().out.count("ok: ") == 4


@pytest.mark.parametrize("text, message", [
    ('title = "x"\nquestion = "q"\n[free]\nfreez_depth = [1]', "free: unknown setting 'freez_depth'; did you mean "
                                                                 "'freeze_depth'?"),
    ('title = "x"\nquestion = "q"\n[free]\nfreeze_depth = [9]', "freeze depth 9 is out of range"),
    ('title = "x"\nquestion = "q"\n[free]\nlr = { low = 1e-2, high = 1e-4 }', "low (0.01) must be below high"),
    ('title = "x"\nquestion = "q"\n[free]\ndevice = ["cpu"]', "a page does not show device"),
    ('title = "x"\nquestion = "q"\n[fixed]\nepochs = 3\n[free]\nepochs = [1, 2]', "epochs is both fixed and free"),
    ('title = "x"\nquestion = "q"\n[free]\nlr = [1e-3]\n[board]\nchart = "heatmap"', "board.over names 2"),
    ('title = "x"\nquestion = "q"\n[free]\naugment = [true]\n[board]\nover = ["augment"]', "cannot draw over augment"),
    ('title = "x"\nquestion = "q"\n[free]\nlr = [1e-3]\n[board]\nmetric = "wall_s"', "board.metric is one of"),
    ('title = "x"\n[free]\nlr = [1e-3]', "give the lesson a question"),
    ('title = "x"\nquestion = "q"\nquestoin = "q"\n[free]\nlr = [1e-3]', "unknown key 'questoin'"),
    ('title = "x"\nquestion = "q"', "[free] is empty"),
    ('title = "x\nquestion', "not a TOML file"),
    ('title = "x"\nquestion = "q"\n[fixed]\nepochs = "many"\n[free]\nlr = [1e-3]', "epochs is a whole number"),
])
def test_a_bad_lesson_file_gets_one_line_saying_what_to_fix(tmp_path, capsys, text, message):
    path = tmp_path / "lesson.toml"
    path.write_text(text)
    assert main(["lesson", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: lesson.toml: ") and message in err and err.count("\n") == 1
    assert main(["lesson", "check", str(tmp_path / "missing.toml")]) == 2
    assert "no lesson file at" in capsys.readouterr().err


def test_a_lesson_holds_a_form_to_it_and_knows_its_comparisons():
    lesson = parse_lesson(_lesson())
    assert lesson.fixed_values()["epochs"] == 1 and lesson.fixed_values()["backbone"] == "efficientnet_lite0"
    assert "freeze_depth" not in lesson.fixed_values()
    lesson.check_values({**lesson.fixed_values(), "freeze_depth": 6})
    with pytest.raises(ConfigError, match="this lesson takes freeze depth .* 0, 6, not 3"):
        lesson.check_values({**lesson.fixed_values(), "freeze_depth": 3})
    with pytest.raises(ConfigError, match="this lesson keeps epochs at 1"):
        lesson.check_values({**lesson.fixed_values(), "freeze_depth": 0, "epochs": 50})
    inside = ComparisonConfig(RunConfig(dataset="digits:0-4", train_per_class=3, image_size=32, epochs=1,
                                        freeze_depth=6))
    assert lesson.belongs(inside) and not lesson.belongs(ComparisonConfig(RunConfig(epochs=1)))
    ranged = parse_lesson(_lesson().replace("freeze_depth = [0, 6]", "lr = { low = 1e-4, high = 1e-2 }")
                          .replace('over = ["freeze_depth"]', 'over = ["lr"]'))
    ranged.check_values({**ranged.fixed_values(), "lr": 3e-3})
    with pytest.raises(ConfigError, match="1e-4 to 0.01"):
        ranged.check_values({**ranged.fixed_values(), "lr": 0.1})


def test_the_class_lesson_lives_in_the_run_folder_and_a_damaged_one_is_none(tmp_path):
    assert ClassLesson.read(tmp_path).lesson is None
    lesson = parse_lesson(_lesson("require_prediction = true"))
    ClassLesson(lesson).write(tmp_path)
    back = ClassLesson.read(tmp_path)
    assert back.lesson == lesson and back.prediction_required
    assert ClassLesson(None, require_prediction=True).prediction_required
    (tmp_path / "lesson.json").write_text('{"lesson": "title = 3"}')
    assert ClassLesson.read(tmp_path).lesson is None


@pytest.mark.parametrize("name", sorted(shipped_lessons()))
def test_each_shipped_lesson_runs_end_to_end_in_quick_mode(tmp_path, capsys, name):
    lesson = find_lesson(name)
    assert main(["lesson", "run", name, "--quick", "--workers", "1", "--runs-dir", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    values = [point["values"][lesson.over[0]] for point in result["points"]]
    free = lesson.free[lesson.over[0]]
    assert values == [free.values[0], free.values[-1]]  # the two ends of what the board draws over
    for point in result["points"]:
        assert point["transfer"]["status"] == point["scratch"]["status"] == "completed"
    records, _ = RunStore(tmp_path).scan()
    assert all(r.config["epochs"] == 1 and r.config["dataset"] == lesson.setting("dataset") for r in records)


def _record(role: str, accs: list[float], test: float, seed: int = 0) -> RunRecord:
    epochs = [EpochRecord(epoch=i + 1, train_loss=1.0, train_acc=a, val_loss=1.0, val_acc=a, lrs={"head": 1e-3},
                          epoch_s=1.0, cum_s=float(i + 1), images_seen=10 * (i + 1), epoch_flops=10**9,
                          train_flops=10**9 * (i + 1), trainable_params=10, total_params=10, freeze_depth=0,
                          features_cached=False, peak_mem_bytes=0, throughput=10.0) for i, a in enumerate(accs)]
    return RunRecord(run_id=f"{role}-{seed}", config={**RunConfig(seed=seed, target_acc=0.9).to_dict()}, role=role,
                     comparison_id="c-1", status="completed", epochs=epochs, test_acc=test)


def _comparison(transfer=(0.5, 0.95, 0.97), scratch=(0.2, 0.4, 0.6), tests=(0.96, 0.55)) -> Comparison:
    return Comparison("c-1", ComparisonConfig(RunConfig(target_acc=0.9)), [_record("transfer", list(transfer),
                      tests[0])], [_record("scratch", list(scratch), tests[1])])


def test_a_prediction_is_checked_kept_and_compared_with_what_ran(tmp_path):
    for bad, message in (({"transfer_acc": 1.5}, "fraction from 0 to 1"), ({"first": "both"}, "which network"),
                         ({"first": "neither", "by_epochs": 3}, "is 0"), ({"why": "x" * 301}, "at most 300")):
        with pytest.raises(ConfigError, match=message):
            Prediction(**{**dict(first="transfer", by_epochs=1, transfer_acc=0.8, scratch_acc=0.5), **bad}).checked()
    store = Predictions(tmp_path)
    guess = Prediction("scratch", 2, 0.7, 0.8, why="<b>bold</b>", name="Ada", comparison_id="c-1", made="t1")
    store.save(guess)
    assert store.get("c-1") == guess and store.all() == {"c-1": guess}
    with pytest.raises(RunStoreError):
        store.save(Prediction("transfer", 1, 0.5, 0.5, comparison_id="../x"))
    (tmp_path / "predictions" / "c-2.json").write_text("{not json")
    assert list(store.all()) == ["c-1"]  # a damaged file is left out, not an error

    result = outcome(guess, _comparison())
    assert result.measured.first == "transfer" and result.measured.by_epochs == 2.0  # at 2; scratch never: 4
    assert not result.first_right and result.error("transfer") == pytest.approx(0.7 - 0.96)
    assert result.surprise == pytest.approx(1 + 0.26 + 0.25)
    assert result.rows()[0] == ("first to 90 % validation accuracy", "scratch, 2 epochs sooner",
                                "transfer, 2 epochs sooner")
    right = Prediction("transfer", 3, 0.95, 0.55, comparison_id="c-1", made="t2")
    assert outcome(right, _comparison()).first_right
    assert surprises([outcome(right, _comparison()), result], 1) == [result]
    assert measured(_comparison(transfer=(0.5,), scratch=(0.2,))).first == "neither"
    running = _comparison()
    running.scratch[0].status = "running"
    assert outcome(guess, running) is None and class_outcomes({"c-1": guess}, {"c-1": running}) == []

    figure = predicted_vs_measured([{"who": "<img src=x>", "role": "transfer", "predicted": 0.7, "measured": 0.96}])
    assert figure.data[0].x == (0, 1) and figure.data[1].text == ("&lt;img src=x&gt;",)  # the diagonal; names escaped
    bars = prediction_beside_result({"transfer": (0.7, 0.96)})
    assert [trace.y for trace in bars.data] == [(0.7,), (0.96,)]


def test_a_page_under_a_lesson_shows_only_its_settings_asks_for_a_prediction_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    st.cache_resource.clear()
    ClassLesson(parse_lesson(_lesson("require_prediction = true"))).write(tmp_path / "runs")
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.run()
    assert not at.exception
    assert at.sidebar.markdown[0].value == "**Lesson: Tiny**"
    sliders = [w.key for w in at.sidebar.get("select_slider")] + [w.key for w in at.sidebar.get("slider")]
    assert [w.key for w in at.sidebar.get("radio")] == ["predict_first", "freeze_depth"] and not sliders
    assert at.radio(key="freeze_depth").options == ["0", "6"]
    assert not [w for w in at.sidebar.get("selectbox") if w.key in ("backbone", "dataset", "sweep")]
    assert "fixed by the lesson: dataset digits:0\\-4" in at.sidebar.caption[-1].value.replace("\\:", ":")

    at.button(key="launch").click().run()
    assert "asks for a prediction first" in at.sidebar.error[0].value
    at.radio(key="predict_first").set_value("transfer")
    at.number_input(key="predict_by").set_value(1)
    at.number_input(key="predict_transfer").set_value(80)
    at.number_input(key="predict_scratch").set_value(30)
    at.text_input(key="student_name").input("Ada")
    at.radio(key="freeze_depth").set_value(6)
    at.button(key="launch").click().run()
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    store = RunStore(tmp_path / "runs")
    _wait_for(store, 2)
    [prediction] = Predictions(store.root).all().values()
    assert (prediction.first, prediction.by_epochs, prediction.transfer_acc, prediction.name) == \
        ("transfer", 1, 0.8, "Ada")
    records, _ = store.scan()
    assert {r.comparison_id for r in records} == {prediction.comparison_id}
    assert {r.config["freeze_depth"] for r in records if r.role == "transfer"} == {6}
    at.run()
    assert "your prediction beside the result" in [e.label for e in at.expander]
    assert any("you said" in str(t.value) for t in at.table)
