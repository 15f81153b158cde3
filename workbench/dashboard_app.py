"""Transfer Workbench dashboard: launch comparisons and sweeps, watch transfer vs scratch side by side.

Served by `workbench dashboard` (installed package) or `streamlit run dashboard.py` (a checkout); both
run `main()` here on every rerun.

Only layout lives here: training runs in `workbench.jobs`, charts come from `workbench.plots`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st

from workbench import plots
from workbench.backbones import get_backbone, list_backbones
from workbench.config import ComparisonConfig, RunConfig, parse_seeds
from workbench.data import SUGGESTED_DATASETS, list_datasets
from workbench.errors import WorkbenchError
from workbench.experiment import SWEEPABLE, Comparison, group_comparisons, parse_sweep_values, sweep_configs, sweep_points
from workbench.jobs import Job
from workbench.report import backbone_label, comparison_rows, verdict
from workbench.runs import RunStore, runs_dir_from_env

LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
DATASET_CHOICES = SUGGESTED_DATASETS[:4] + ["imagefolder:PATH"] + SUGGESTED_DATASETS[4:]
REFRESH_SECONDS = 2.0
X_AXIS_LABELS = {"epoch": "epoch", "seconds": "wall-clock seconds", "flops": "training FLOPs"}


def runs_dir() -> Path:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-dir", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    return Path(known.runs_dir) if known.runs_dir else runs_dir_from_env()


@st.cache_resource
def job_board() -> dict:
    """One slot per server process: a page reload finds the job still running instead of starting another."""
    return {"job": None}


def current_job() -> Job | None:
    return job_board()["job"]


def launch(configs: list[ComparisonConfig], store: RunStore, label: str, sweep: str | None = None) -> None:
    job = current_job()
    if job is not None and job.running:
        st.sidebar.warning("a job is already running; stop it first")
        return
    job_board().update(job=Job(configs, store, label=label, in_process=True).start(), sweep=sweep)


# --- sidebar: what to run -------------------------------------------------------------------------


def sidebar(store: RunStore) -> None:
    st.sidebar.header("Launch")
    defaults = RunConfig()
    backbone_name = st.sidebar.selectbox(
        "backbone", list_backbones(), index=list_backbones().index(defaults.backbone),
        format_func=backbone_label)
    backbone = get_backbone(backbone_name)
    counts = backbone.stage_param_counts()
    freeze = st.sidebar.slider("freeze depth (stages)", 0, backbone.num_stages, 0,
                               help="0 fine-tunes everything; the maximum trains only the new head")
    st.sidebar.plotly_chart(plots.stage_map(counts, freeze), key="stage_map", config={"displayModeBar": False})
    lr = st.sidebar.select_slider("learning rate (head)", LEARNING_RATES, value=defaults.lr, format_func="{:.0e}".format)
    scratch_lr = st.sidebar.select_slider("scratch learning rate", LEARNING_RATES, value=ComparisonConfig().scratch_lr,
                                          format_func="{:.0e}".format)
    bn_policy = st.sidebar.radio("BatchNorm in frozen stages", ["frozen", "train"], horizontal=True,
                                 help="frozen keeps ImageNet statistics; train re-estimates them from your batches")
    with st.sidebar.expander("discriminative LR and gradual unfreezing"):
        backbone_mult = st.number_input("backbone LR multiplier", 0.001, 1.0, 1.0, format="%.3f")
        layer_decay = st.number_input("layer-wise decay", 0.1, 1.0, 1.0, step=0.05)
        unfreeze_every = st.number_input("unfreeze a stage every N epochs (0 = off)", 0, 50, 0)
    dataset = st.sidebar.selectbox("dataset", DATASET_CHOICES, help="; ".join(f"{k}: {v}" for k, v in list_datasets().items()))
    if dataset == "imagefolder:PATH":
        folder = st.sidebar.text_input("image folder (one sub-folder per class)", "")
        dataset = f"imagefolder:{folder}"
    per_class = st.sidebar.number_input("labels per class", 1, 5000, defaults.train_per_class)
    epochs = st.sidebar.number_input("epochs", 1, 200, defaults.epochs)
    image_size = st.sidebar.select_slider("image size", [32, 48, 64, 96, 128, 160, 224], value=defaults.image_size)
    seeds_text = st.sidebar.text_input("seeds", "0", help="several, e.g. '0 1 2', show mean and spread")
    mode = st.sidebar.radio("what to run", ["comparison", "sweep"], horizontal=True)
    if mode == "sweep":
        parameter = st.sidebar.selectbox("sweep over", SWEEPABLE)
        suggestion = {"freeze_depth": " ".join(str(d) for d in range(backbone.num_stages + 1)),
                      "lr": "1e-4 3e-4 1e-3 3e-3", "train_per_class": "2 5 10 20"}[parameter]
        values_text = st.sidebar.text_input("values", suggestion)

    job = current_job()
    busy = job is not None and job.running
    left, right = st.sidebar.columns(2)
    if left.button("Launch", type="primary", disabled=busy, key="launch"):
        try:
            seeds = parse_seeds(seeds_text)
            transfer = RunConfig(backbone=backbone_name, freeze_depth=freeze, lr=lr, bn_policy=bn_policy,
                                 lr_backbone_mult=backbone_mult, layer_decay=layer_decay,
                                 unfreeze_every=int(unfreeze_every), dataset=dataset, train_per_class=int(per_class),
                                 epochs=int(epochs), image_size=image_size)
            base = ComparisonConfig(transfer, scratch_lr=scratch_lr, seeds=seeds)
            if mode == "sweep":
                launch(sweep_configs(base, parameter, parse_sweep_values(values_text, parameter)), store,
                       f"sweep over {parameter}", sweep=parameter)
            else:
                launch([base.validate()], store, "comparison")
            st.rerun()
        except WorkbenchError as exc:
            st.sidebar.error(str(exc))
    if right.button("Stop", disabled=not busy, key="stop"):
        job.stop()


# --- main area: what happened ---------------------------------------------------------------------


def show_comparison(store: RunStore, comparison: Comparison, x_axis: str, live: bool) -> None:
    """Curves always; while runs are training, nothing else, to leave the CPU to training."""
    comparison_id = comparison.comparison_id
    summary = comparison.summary()
    if not summary["transfer"] and not summary["scratch"]:
        st.info("waiting for the first epoch...")
        return
    curves = plots.learning_curves(summary, x_axis)
    st.plotly_chart(curves, key=f"curves-{comparison_id}")
    if live:
        st.caption("cost table, confusion matrices and downloads appear when the runs finish")
        return
    if summary["transfer"] and summary["scratch"]:
        st.markdown(f"**{verdict(summary['transfer'], summary['scratch'])}**")
    left, right = st.columns([1, 3])
    rows = comparison_rows(summary)
    left.dataframe({"measure": [r[0] for r in rows], "transfer": [r[1] for r in rows], "scratch": [r[2] for r in rows]},
                   hide_index=True, key=f"costs-{comparison_id}")
    right.plotly_chart(plots.cost_bars(summary), key=f"cost-bars-{comparison_id}")
    for record in comparison.transfer + comparison.scratch:
        if record.status != "completed":
            st.caption(f"run {record.run_id}: {record.status}" + (f" ({record.error})" if record.error else ""))
    finished = [r for r in comparison.transfer[:1] + comparison.scratch[:1] if r.confusion]
    if finished:
        with st.expander("per-class accuracy and confusion matrices"):
            st.plotly_chart(plots.per_class_accuracy({r.role: (r.per_class_acc, r.classes) for r in finished}),
                            key=f"per-class-{comparison_id}")
            for column, record in zip(st.columns(len(finished)), finished):
                column.plotly_chart(plots.confusion_heatmap(record.confusion, record.classes, record.role),
                                    key=f"confusion-{record.run_id}")
    run_ids = [r.run_id for r in comparison.transfer + comparison.scratch]
    a, b = st.columns(2)
    a.download_button("runs as CSV", store.export_csv(run_ids), f"{comparison_id}.csv", "text/csv",
                      key=f"csv-{comparison_id}")
    b.download_button("curves as HTML", curves.to_html(include_plotlyjs="cdn"),
                      f"{comparison_id}-curves.html", "text/html", key=f"html-{comparison_id}")


def comparison_tab(store: RunStore, comparisons: dict, running: bool) -> None:
    job = current_job()
    ids = list(comparisons)
    if job is not None:
        ids = [c for c in reversed(job.comparison_ids) if c not in ids] + ids
    if not ids:
        return
    chosen = st.selectbox("comparison", ids, format_func=lambda c: describe(comparisons.get(c), c), key="chosen")
    x_axis = st.radio("x axis", list(X_AXIS_LABELS), format_func=X_AXIS_LABELS.get, horizontal=True, key="x_axis")
    comparison = comparisons.get(chosen) or Comparison(chosen, ComparisonConfig())
    show_comparison(store, comparison, x_axis, live=running and job is not None and chosen in job.comparison_ids)


def describe(comparison: Comparison | None, comparison_id: str) -> str:
    records = (comparison.transfer + comparison.scratch) if comparison else []
    if not records:
        return f"{comparison_id} (starting)"
    config = records[0].config
    return (f"{comparison_id}: {config['backbone']} freeze {config['freeze_depth']} lr {config['lr']:.0e} "
            f"on {config['dataset']} ({config['train_per_class']}/class)")


def store_tab(store: RunStore, comparisons: dict, problems: dict) -> None:
    for run_id, problem in problems.items():
        st.warning(f"run {run_id} is shown as unreadable: {problem}")
    if not comparisons:
        st.info("no comparisons recorded yet")
        return
    # No key: when new comparisons arrive, the selection starts again from the newest twelve.
    chosen = st.multiselect("comparisons to compare", list(comparisons), default=list(comparisons)[:12],
                            format_func=lambda c: describe(comparisons[c], c))
    loaded = [comparisons[c] for c in chosen]
    metric = st.radio("accuracy", ["test_acc", "best_val_acc", "final_val_acc"], horizontal=True, key="sweep_metric")
    for parameter in SWEEPABLE:
        points = sweep_points(loaded, parameter)
        if len({p[parameter] for p in points}) > 1:
            st.subheader(f"final accuracy against {parameter.replace('_', ' ')}")
            st.plotly_chart(plots.sweep_curve(points, parameter, metric), key=f"sweep-{parameter}")
    run_ids = [r.run_id for c in loaded for r in c.transfer + c.scratch]
    if run_ids:
        st.download_button("selected runs as CSV", store.export_csv(run_ids), "runs.csv", "text/csv", key="store_csv")


def sweep_so_far(comparisons: dict[str, Comparison]) -> None:
    """During a sweep, the points of the comparisons that have finished."""
    parameter, job = job_board().get("sweep"), current_job()
    if parameter is None or job is None:
        return
    finished = [comparisons[c] for c in job.comparison_ids[:-1] if c in comparisons]
    points = sweep_points(finished, parameter)
    if points:
        st.subheader(f"sweep so far: accuracy against {parameter.replace('_', ' ')}")
        st.plotly_chart(plots.sweep_curve(points, parameter), key="sweep-live")


def progress_panel() -> None:
    job = current_job()
    if job is None:
        return
    if job.running:
        st.progress(job.progress, text=f"{job.label}: {job.message}")
    elif job.state == "failed":
        st.error(job.error)
    elif job.state == "interrupted":
        st.warning(f"{job.label} stopped; every finished epoch was saved")


def main() -> None:
    st.set_page_config(page_title="Transfer Workbench", layout="wide")
    store = RunStore(runs_dir())
    st.title("Transfer Workbench")
    st.caption(f"Fine-tune a pre-trained CNN and train it from scratch under identical conditions. Runs: {store.root}")
    sidebar(store)
    job = current_job()
    running = job is not None and job.running

    @st.fragment(run_every=REFRESH_SECONDS if running else None)
    def live() -> None:
        if running and not (current_job() and current_job().running):
            st.rerun()  # the job just ended: refresh the whole page once
        progress_panel()
        records, problems = store.scan()
        comparisons = group_comparisons(records)
        if not comparisons and not running:
            st.info("No runs yet. The default demo fine-tunes EfficientNet-Lite0 on real photo textures "
                    "(10 labels per class) and trains it from scratch: about a minute on a laptop CPU.")
            if st.button("Run the default demo", type="primary", key="demo"):
                launch([ComparisonConfig()], store, "default demo")
                st.rerun()
            return
        if running:  # keep the refresh light: the browser and this server share the CPU with training
            comparison_tab(store, comparisons, running)
            sweep_so_far(comparisons)
            return
        curves, history = st.tabs(["Transfer vs scratch", "Compare runs"])
        with curves:
            comparison_tab(store, comparisons, running)
        with history:
            store_tab(store, comparisons, problems)

    live()
