"""The studies of `workbench reproduce`: each runs, records its runs, and says what it measured.

The default tests shrink every study's quick settings to one epoch of a few tiny images, so they
check the plumbing (points, seeds, reuse, verdict, JSON, figure), not the science. The slow tests
run full settings and check each claim's qualitative shape.
"""

import json
from dataclasses import replace

import pytest

from workbench.cli.main import main
from workbench.core import settings
from workbench.store.runs import RunStore
from workbench.studies import STUDIES, run_study
from workbench.studies.core import Cell
from workbench.studies.judging import apart, difference
from workbench.studies.plots import study_figure


def _tiny(study):
    """The study with its quick points (and source runs) cut to one epoch of two images per class at 32 px."""
    def tiny(config):
        return replace(config, epochs=1, train_per_class=2, image_size=32)

    def points(quick):
        return [replace(p, config=replace(p.config, transfer=tiny(p.config.transfer))) for p in study.points(True)]

    def sources(quick):
        return {name: tiny(config) for name, config in study.sources(True).items()}

    return replace(study, points=points, sources=sources if study.sources else None)


@pytest.mark.parametrize("name", list(STUDIES))
def test_each_study_runs_every_point_for_every_seed_and_judges(name, tmp_path):
    store = RunStore(tmp_path / "runs")
    study = _tiny(STUDIES[name])
    result = run_study(study, store, seeds=[0, 1], quick=True)
    points = study.points(True)
    assert {(c.x, c.arm) for c in result.cells} >= {(p.x, p.arm) for p in points}
    assert all(len(c.values) == 2 for c in result.cells)
    assert result.verdict.paper and result.verdict.measured and result.verdict.holds in (True, False, None)
    records, problems = store.scan()
    assert not problems and all(r.status == "completed" for r in records)
    by_id = {r.run_id: r for r in records}
    for cell in result.cells:  # every number is one a recorded run holds, with its own split
        for seed, (run_id, value) in enumerate(zip(cell.run_ids, cell.values)):
            record = by_id[run_id]
            assert record.config["seed"] == seed and record.config["split_seed"] == seed
            if cell.metric == "test_acc":
                assert value == record.test_acc
    scratch_wanted = any(p.with_scratch for p in points)
    assert any(r.role == "scratch" for r in records) == scratch_wanted  # no run that nobody reads
    data = json.loads(json.dumps(result.to_dict()))
    figure = study_figure(data)
    assert {t.name for t in figure.data} == set(result.arms())


def test_a_study_run_again_trains_nothing_and_finds_the_same_numbers(tmp_path):
    store = RunStore(tmp_path / "runs")
    study = _tiny(STUDIES["crossover"])
    first = run_study(study, store, seeds=[0], quick=True)
    again = run_study(study, store, seeds=[0], quick=True)
    assert [c.values for c in again.cells] == [c.values for c in first.cells]
    reruns = {run_id for c in again.cells for run_id in c.run_ids}
    assert all(store.load(run_id).reused_from for run_id in reruns)


def test_reproduce_prints_paper_measured_and_verdict_and_writes_the_figure(tmp_path, monkeypatch):
    monkeypatch.setitem(STUDIES, "adabn", _tiny(STUDIES["adabn"]))
    figure = tmp_path / "adabn.html"
    assert main(["reproduce", "adabn", "--quick", "--seeds", "2", "--runs-dir", str(tmp_path / "runs"),
                 "--html", str(figure)]) == 0
    assert figure.stat().st_size > 100_000 and "frozen" in figure.read_text()  # plotly.js inside: opens offline


def test_claims_are_judged_against_the_spread():
    def cell(values, arm="a"):
        return Cell(1, arm, "test_acc", values, [])

    assert apart(cell([0.9, 0.92]), cell([0.5, 0.52])) is True
    assert apart(cell([0.6, 0.9]), cell([0.5, 0.7])) is None  # a 0.15 lead inside 0.25 of spread
    assert difference(cell([0.9, 0.6]), cell([0.5, 0.5]), "gap").values == pytest.approx([0.4, 0.1])
    assert cell([0.5, None]).mean is None  # a seed without a value: no honest mean


# --- full settings: each claim's qualitative shape (slow: 2 to 10 minutes a study on 2 cores) -------------
# $WORKBENCH_STUDY_RUNS names a run folder where `workbench reproduce STUDY` already ran: the runs are
# reused and only the judging is checked again (seconds). Without it every study trains from nothing.

@pytest.fixture(scope="module")
def full_store(tmp_path_factory) -> RunStore:

    return RunStore(settings.study_runs() or tmp_path_factory.mktemp("study-runs"))


def _full(name: str, store: RunStore):
    return run_study(STUDIES[name], store, seeds=[0, 1, 2], quick=False)


@pytest.mark.slow
def test_full_yosinski_fine_tuned_transfer_is_at_least_frozen_at_the_deepest_cut(full_store):
    result = _full("yosinski", full_store)
    deep = result.xs("AnB")[-1]
    assert result.cell(deep, "AnB+").mean >= result.cell(deep, "AnB").mean


@pytest.mark.slow
def test_full_crossover_narrows_with_more_labels(full_store):
    result = _full("crossover", full_store)
    assert result.verdict.holds is True, result.verdict.measured


@pytest.mark.slow
def test_full_he2019_transfer_reaches_the_target_sooner_with_many_labels(full_store):
    result = _full("he2019", full_store)
    many = result.xs("transfer")[-1]
    epochs = {arm: [v if v is not None else 99 for v in result.cell(many, arm, "epochs_to_target").values]
              for arm in ("transfer", "scratch")}
    assert max(epochs["transfer"]) < min(epochs["scratch"]), epochs


@pytest.mark.slow
def test_full_kornblith_measures_a_rank_correlation_for_every_arm(full_store):
    result = _full("kornblith", full_store)
    assert len(result.arms()) == 4 and all(len(result.xs(arm)) == 3 for arm in result.arms())
    assert all(result.cell(x, arm).mean is not None for arm in result.arms() for x in result.xs(arm))
    assert "small sample" in result.verdict.reason and "rank correlation" in result.verdict.measured


@pytest.mark.slow
def test_full_neyshabur_the_lead_shrinks_but_survives_shuffled_pixels(full_store):
    result = _full("neyshabur", full_store)
    xs = result.xs("transfer")
    gaps = [difference(result.cell(x, "transfer"), result.cell(x, "scratch"), "gap") for x in (xs[0], xs[-1])]
    assert apart(gaps[0], gaps[1]) is True and gaps[1].mean > 0


@pytest.mark.slow
def test_full_adabn_frozen_statistics_beat_training_them_on_a_linear_probe(full_store):
    result = _full("adabn", full_store)
    for dataset in result.arms():
        assert apart(result.cell("frozen", dataset), result.cell("train", dataset)) is True, dataset


@pytest.mark.slow
def test_full_preprocessing_the_backbones_own_size_beats_32_px(full_store):
    result = _full("preprocessing", full_store)
    assert result.verdict.holds is True, result.verdict.measured
