"""The studies of `workbench reproduce`: each runs, records its runs, and says what it measured.

The default tests shrink every study's quick settings to one epoch of a few tiny images, so they
check the plumbing (points, seeds, reuse, verdict, JSON, figure), not the science. The slow tests
run full settings and check each claim's qualitative shape.
"""

import json
from dataclasses import replace

import pytest

from workbench.cli import main
from workbench.runs import RunStore
from workbench.studies import STUDIES, run_study
from workbench.studies.core import Cell, apart, difference
from workbench.study_plots import study_figure


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
