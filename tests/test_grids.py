"""Grids of two settings, as Compare runs and the class board draw them: only where the two settings varied each
on its own, with a colour bar that reads true, and a sentence where the two only changed together."""

from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from workbench.core.records import RunRecord
from workbench.experiments.comparisons import group_comparisons
from workbench.experiments.grouping import grid_groups, tangled_pairs
from workbench.present.report import tangled_text
from workbench.present.sweep_plots import grid_values, sweep_heatmap
from workbench.spec.config import RunConfig


def _comparison(cid: str, transfer_acc: float | None, scratch_acc: float | None = 0.2, **changes) -> list[RunRecord]:
    """A recorded comparison (no training): its transfer run and, unless stopped before it, its scratch run."""
    config = replace(RunConfig(), **changes).to_dict()
    records = [RunRecord(f"{cid}-t", config, role="transfer", comparison_id=cid, test_acc=transfer_acc,
                         status="completed" if transfer_acc is not None else "interrupted")]
    if scratch_acc is not None:
        scratch = {**config, "pretrained": False, "freeze_depth": 0, "lr": 3e-3}
        records.append(RunRecord(f"{cid}-s", scratch, role="scratch", comparison_id=cid, test_acc=scratch_acc,
                                 status="completed"))
    return records


def _comparisons(*records: list[RunRecord]) -> list:
    return list(group_comparisons([r for rs in records for r in rs]).values())


def test_two_settings_changed_together_are_no_grid_and_say_so():
    diagonal = _comparisons(_comparison("a", 0.9, freeze_depth=0, lr=1e-3), _comparison("b", 0.8, freeze_depth=3, lr=1e-2))
    assert grid_groups(diagonal) == [] and grid_groups(diagonal, pool=True) == []
    (tangled,) = tangled_pairs(diagonal)
    assert (tangled.parameter, tangled.parameter2, tangled.pairs()) == ("freeze_depth", "lr", [(0, 1e-3), (3, 1e-2)])
    text = tangled_text(tangled.parameter, tangled.parameter2, tangled.pairs())
    assert text.startswith("freeze depth (stages) and learning rate (head) changed together: no grid (0 with 1e-3; 3 with 0.01)")


def test_a_grid_needs_each_setting_tried_with_two_values_of_the_other():
    corner = _comparisons(_comparison("a", 0.9, freeze_depth=0, lr=1e-3), _comparison("b", 0.8, freeze_depth=3, lr=1e-3),
                          _comparison("c", 0.7, freeze_depth=0, lr=1e-2))
    (grid,) = grid_groups(corner)
    assert len(grid.comparisons) == 3 and tangled_pairs(corner) == []
    # depth 0 ran with two rates, but no rate with two depths: still two settings moving together
    fan = _comparisons(_comparison("a", 0.9, freeze_depth=0, lr=1e-3), _comparison("b", 0.8, freeze_depth=0, lr=1e-2),
                       _comparison("c", 0.7, freeze_depth=3, lr=3e-2))
    assert grid_groups(fan) == [] and len(tangled_pairs(fan)) == 1


def test_the_colour_bar_runs_over_every_accuracy_and_each_tick_reads_differently():
    close = _comparisons(*(_comparison(c, acc, freeze_depth=d, lr=lr) for c, acc, d, lr in
                           (("a", 0.961, 0, 1e-3), ("b", 0.962, 3, 1e-3), ("c", 0.963, 0, 1e-2), ("d", 0.964, 3, 1e-2))))
    heatmap = sweep_heatmap(close, "freeze_depth", "lr").data[0]
    assert (heatmap.zmin, heatmap.zmax) == (0, 1)
    assert list(heatmap.colorbar.ticktext) == ["0%", "25%", "50%", "75%", "100%"]
    gain = sweep_heatmap(close, "freeze_depth", "lr", role="gain").data[0]
    assert gain.zmid == 0 and (gain.zmin, gain.zmax) == (-1, 1)  # gains of 76.1-76.4 points
    assert list(gain.colorbar.ticktext) == ["-100 pts", "-50 pts", "+0 pts", "+50 pts", "+100 pts"]
    small = _comparisons(*(_comparison(c, acc, 0.955, freeze_depth=d, lr=lr) for c, acc, d, lr in
                           (("a", 0.961, 0, 1e-3), ("b", 0.962, 3, 1e-3), ("c", 0.963, 0, 1e-2))))
    ticks = list(sweep_heatmap(small, "freeze_depth", "lr", role="gain").data[0].colorbar.ticktext)
    assert ticks == ["-1 pts", "-0.5 pts", "+0 pts", "+0.5 pts", "+1 pts"]  # not '+1 pts' on every tick
    same = _comparisons(*(_comparison(c, 1.0, freeze_depth=d, lr=lr) for c, d, lr in
                          (("a", 0, 1e-3), ("b", 3, 1e-3), ("c", 0, 1e-2))))
    one_value = sweep_heatmap(same, "freeze_depth", "lr").data[0]
    assert (one_value.zmin, one_value.zmax) == (0, 1)  # not 60% to 140%


def test_a_stopped_comparison_keeps_its_cell_empty_and_values_that_read_alike_stay_apart():
    grid = _comparisons(_comparison("a", 0.9, freeze_depth=0, lr=1.5e-3), _comparison("b", 0.8, freeze_depth=3, lr=1.5e-3),
                        _comparison("c", None, None, freeze_depth=0, lr=2e-3))  # stopped in its transfer run
    xs, ys, cells = grid_values(grid, "freeze_depth", "lr")
    assert (xs, ys, cells) == ([0, 3], [1.5e-3, 2e-3], [[0.9, 0.8], [None, None]])
    heatmap = sweep_heatmap(grid, "freeze_depth", "lr").data[0]
    assert len(set(heatmap.y)) == 2 and "None" not in [t for row in heatmap.text for t in row]  # both read '2e-3'


def _board(records, root) -> None:
    from workbench.dashboard.class_board import _board
    from workbench.experiments.comparisons import group_comparisons

    _board(group_comparisons(records), {}, root, None)  # no lesson, no predictions in ``root``


@pytest.mark.parametrize("shape", ["diagonal", "stopped"])
def test_the_class_board_draws_no_grid_for_settings_changed_together_and_no_none(shape, tmp_path):
    records = _comparison("a", 0.9, freeze_depth=0, lr=1e-3) + _comparison("b", 0.8, freeze_depth=3, lr=1e-2)
    if shape == "stopped":
        records = _comparison("a", 0.9) + _comparison("b", 0.85, None, freeze_depth=3)  # stopped before scratch
    at = AppTest.from_function(_board, args=(records, str(tmp_path)), default_timeout=30)
    at.run()
    assert not at.exception
    assert not at.get("plotly_chart")
    infos = [i.value for i in at.info]
    if shape == "diagonal":
        assert any(i.replace("\\", "").startswith("freeze depth (stages) and learning rate (head) changed together: no grid")
                   for i in infos)
    else:
        assert at.dataframe[0].proto.placeholder == "no result"
