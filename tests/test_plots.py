import pytest

from workbench.present import plots
from workbench.store.runs import RunStore
from workbench.training.train import train_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from workbench.spec.config import RunConfig

    store = RunStore(tmp_path_factory.mktemp("runs"))
    config = RunConfig(dataset="digits:0-2", train_per_class=4, image_size=32, epochs=2, max_eval_per_class=5)
    return {"transfer": train_run(config, store).summary(),
            "scratch": train_run(config.__class__(**{**config.to_dict(), "pretrained": False}), store).summary()}


@pytest.mark.parametrize("x_axis, key", [("epoch", "epoch"), ("seconds", "cum_s"), ("flops", "train_flops")])
def test_learning_curves_plot_the_recorded_numbers(runs, x_axis, key):
    figure = plots.learning_curves(runs, x_axis)
    val = next(t for t in figure.data if t.name == "scratch val")
    assert list(val.x) == [e[key] for e in runs["scratch"]["epochs"]]
    assert list(val.y) == [e["val_acc"] for e in runs["scratch"]["epochs"]]


def test_any_labels_can_be_overlaid(runs):
    figure = plots.learning_curves({"probe": runs["transfer"], "full": runs["scratch"]})
    runs_drawn = {t.name for t in figure.data} - {"target 90%"}  # the target line is its own trace now
    assert runs_drawn == {"probe val", "probe train", "full val", "full train"}


def test_cost_bars_show_each_measure_for_each_run(runs):
    figure = plots.cost_bars(runs)
    flops = [t for t in figure.data if t.xaxis == "x2"]
    values = [t.x[0] if t.orientation == "h" else t.y[0] for t in flops]  # bars may lie horizontally
    assert values == [runs["transfer"]["train_flops"], runs["scratch"]["train_flops"]]


@pytest.mark.parametrize("epochs, labelled", [(6, 1), (300, None)])
def test_epochs_are_labelled_one_by_one_only_while_the_labels_fit(epochs, labelled):
    """A label for each of 300 epochs (and plotly measuring each at every update) froze a notebook's page."""
    curve = [{"epoch": e, "val_acc": 0.5, "train_acc": 0.5, "val_loss": 1.0, "train_loss": 1.0}
             for e in range(1, epochs + 1)]
    axis = plots.learning_curves({"transfer": {"epochs": curve}}).layout.xaxis
    assert axis.dtick == labelled and axis.tickformat == "d"


def test_seed_spread_becomes_a_band():
    epochs = [{"epoch": 1, "cum_s": 1.0, "train_flops": 1, "val_acc": 0.5, "val_acc_std": 0.1, "train_acc": 0.5,
               "train_acc_std": 0.1, "val_loss": 1.0, "val_loss_std": 0.1, "train_loss": 1.0, "train_loss_std": 0.1}]
    figure = plots.learning_curves({"transfer": {"epochs": epochs, "target_acc": 0.9}})
    band = next(t for t in figure.data if t.name == "transfer spread")
    assert list(band.y) == pytest.approx([0.6, 0.4])


def test_sweep_curve_sorts_points():
    points = [{"lr": 1e-2, "transfer": {"test_acc": 0.5}, "scratch": {"test_acc": 0.2}},
              {"lr": 1e-3, "transfer": {"test_acc": 0.9}, "scratch": {"test_acc": 0.3}}]
    figure = plots.sweep_curve(points, "lr")
    assert list(figure.data[0].x) == [1e-3, 1e-2] and figure.layout.xaxis.type == "log"
    assert not figure.data[0].error_y.visible  # one seed: no spread to draw


def test_sweep_curve_draws_the_spread_of_several_seeds():
    points = [{"train_per_class": n, "transfer": {"test_acc": 0.5, "test_acc_std": std}, "scratch": None}
              for n, std in ((10, 0.04), (2, 0.1))]
    (transfer,) = plots.sweep_curve(points, "train_per_class").data
    assert list(transfer.error_y.array) == [0.1, 0.04] and transfer.error_y.visible


def test_a_comparison_stopped_before_its_scratch_run_says_so_everywhere(runs):
    """Stop in the comparison panel before the scratch run starts (notebook 04 invites it): every table and
    chart of the comparison still draws, and says what is missing instead of failing on it."""
    from workbench.present.report import comparison_rows, comparison_table, verdict, with_spread

    summary = {"comparison_id": "c-stopped", "transfer": {**runs["transfer"], "status": "interrupted"}, "scratch": None}
    table = comparison_table(summary)
    assert all(scratch == "not run (stopped)" for _, _, scratch in comparison_rows(summary))
    assert "scratch not run (stopped), so no verdict" in table.splitlines()[-1]
    assert all(line.endswith("not run (stopped)") for line in table.splitlines()[1:1 + len(comparison_rows(summary))])
    assert "scratch not run (stopped)" in verdict(summary["transfer"], None) and with_spread(None, "test_acc")
    curves = plots.learning_curves(summary)
    assert "scratch: not run (stopped)" in {t.name for t in curves.data} and "transfer val" in {t.name for t in curves.data}
    assert "scratch: not started yet" in {t.name for t in plots.learning_curves(summary, live=True).data}
    bars = plots.cost_bars(summary)
    assert {t.text[0] for t in bars.data if t.name == "scratch"} == {"not run (stopped)"}
    assert len([t for t in bars.data if t.name == "transfer"]) == len(bars.layout.annotations)


def test_image_labels_are_cut_to_lines_that_fit_over_their_image():
    """Issue 22: 'transfer: immunohistochemistry 100%' ran over its neighbours in an eight-wide grid."""
    label = plots.fit_label("transfer: immunohistochemistry 100%")
    lines = label.split("<br>")
    assert lines[0] == "transfer:" and all(len(line) <= plots.LABEL_CHARS for line in lines), lines
    assert lines[1] == "immunohisto… 100%"  # the long word keeps its start; the score stays
    assert plots.fit_label("cat 97%") == "cat 97%"  # short labels stay as they are


def test_a_confusion_matrix_names_every_class_on_both_axes_with_cells_a_count_fits_in():
    classes = ["immunohistochemistry", "immunohistochemistry stained", "cat"] + [f"c{i}" for i in range(9)]
    confusion = [[i + j for j in range(len(classes))] for i in range(len(classes))]
    figure = plots.confusion_heatmap(confusion, classes, "transfer, test split")
    heat = figure.data[0]
    assert len(set(heat.x)) == len(set(heat.y)) == len(classes)  # two names alike in their start stay two
    assert figure.layout.xaxis.type == figure.layout.yaxis.type == "category"
    assert figure.layout.height - 150 >= 26 * len(classes)
    assert "immunohistochemistry stained" in str(heat.customdata)  # whole names on hover
