"""The dashboard's main area: one comparison (live, then with its costs), the sweep so far, and runs compared.

Layout only: numbers come from the run records through `workbench.experiments.comparisons` and `workbench.present.report`,
charts from `workbench.present.plots` (the notebook panels draw the same ones).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench.core.metrics import ACCURACIES
from workbench.dashboard.links import again_link
from workbench.dashboard.predictions import prediction_beside
from workbench.dashboard.text import plain
from workbench.experiments.comparisons import Comparison
from workbench.experiments.grouping import GridGroup, grid_groups, sweep_groups, sweep_points, tangled_pairs
from workbench.jobs.board import HELD, JobBoard
from workbench.jobs.job import Job
from workbench.present import plots
from workbench.present.report import comparison_label, comparison_rows, settings_text, tangled_text, verdict
from workbench.present.sweep_plots import TITLES, cell_value, sweep_heatmap
from workbench.spec.options import SWEEPABLE, option
from workbench.store.runs import RunStore


def progress(job: Job | None, board: JobBoard, owner: str) -> None:
    """This page's job: its place in line, its progress, or how it ended."""
    if job is None or job.owner != owner:
        return
    if job.state == "queued" and job.message == HELD:
        st.progress(0.0, text=f"{job.label}: {HELD}")
    elif job.state == "queued":
        where, training = board.position(job), len(board.queue.jobs(("running",)))
        st.progress(0.0, text=f"{job.label}: waiting for a training slot, number {where or '?'} in line "
                              f"({training} training now, at most {board.max_jobs} at once)")
    elif job.running:
        st.progress(job.progress, text=f"{job.label}: {plain(job.message)}")
    elif job.state == "interrupted":
        st.warning(f"{job.label} stopped{' by ' + job.stopped_by if job.stopped_by else ''}; "
                   "every finished epoch was saved")
    elif job.state == "cancelled":
        st.info(f"{job.label} left the queue before it started"
                + (f" ({job.message})" if job.message.endswith("by the teacher") else ""))


def sweep_so_far(job: Job | None, comparisons: dict[str, Comparison]) -> None:
    """While a sweep runs, its finished points, at the top of the page."""
    if job is None or job.sweep is None or not job.running:  # (a queued sweep has no points yet)
        return
    finished = [comparisons[c] for c in job.comparison_ids[:job.current] if c in comparisons]
    if job.sweep2 and finished:
        st.subheader(f"grid so far: {option(job.sweep).label} × {option(job.sweep2).label}")
        st.plotly_chart(sweep_heatmap(finished, job.sweep, job.sweep2), key="grid-live")
        return
    points = sweep_points(finished, job.sweep)
    if points:
        st.subheader(f"sweep so far: accuracy against {option(job.sweep).label}")
        st.plotly_chart(plots.sweep_curve(points, job.sweep), key="sweep-live")


PICKED = "picked_comparison"  # the comparison this page shows, kept while the picker is not drawn


def _stop_following() -> None:
    st.session_state["following"] = None


def pick_comparison(comparisons: dict[str, Comparison], job: Job | None) -> Comparison | None:
    """The comparison picker: newest first; a page that launched a job follows its comparisons. A comparison that
    ended before its first epoch (a Stop while it loaded) and a job that left the queue are not offered: they would
    wait for an epoch that never comes."""
    ids = [c for c, comparison in comparisons.items() if not comparison.empty
           or (job is not None and job.active and c in job.comparison_ids)]
    if job is not None and job.active:
        ids = [c for c in job.comparison_ids if c not in ids] + ids
    if not ids:
        return None
    following = st.session_state.get("following")
    if job is not None and following in job.comparison_ids:
        st.session_state["chosen"] = st.session_state["following"] = job.current_comparison
    # The picker is drawn only while its tab is open, and Streamlit forgets a widget's value in a run that does not
    # draw it: the choice is also kept under a key of its own, for the other tabs and the way back.
    remembered = st.session_state.get("chosen") or st.session_state.get(PICKED)
    st.session_state["chosen"] = remembered if remembered in ids else ids[0]
    chosen = st.selectbox("comparison", ids, key="chosen", on_change=_stop_following,
                          format_func=lambda c: comparison_label(comparisons.get(c) or Comparison(c, None)))
    st.session_state[PICKED] = chosen
    return comparisons.get(chosen) or Comparison(chosen, None)


def show_comparison(store: RunStore, comparison: Comparison, live: bool) -> None:
    """Curves always; while the runs train nothing else, to leave the CPU to training."""
    summary = comparison.summary()
    if not any((summary[role] or {}).get("epochs") for role in ("transfer", "scratch")):
        st.info("waiting for the first epoch…" if live else "stopped before its first epoch: nothing was recorded")
        return
    records = comparison.transfer + comparison.scratch
    if not live:  # the answer first: at 1280x800 the verdict and the costs under the curves were off-screen
        st.markdown(f"**{plain(verdict(summary['transfer'], summary['scratch']))}**")
        for note in dict.fromkeys(r.summary().get("machine_busy") for r in records):
            if note:
                st.warning(note)
        headline(summary)
        prediction_beside(store.root, comparison)
    x_axis = st.radio("x axis", list(plots.X_AXES), format_func=lambda x: f"x: {plots.X_AXES[x][1]}", horizontal=True,
                      key="x_axis", label_visibility="collapsed")
    curves = plots.learning_curves(summary, x_axis, live=live)
    st.plotly_chart(curves, key=f"curves-{comparison.comparison_id}")
    if live:
        st.caption("the cost table, per-class accuracy and downloads appear when the runs finish")
        return
    costs(summary, comparison.comparison_id)
    for record in records:
        if record.status != "completed":
            st.caption(f"run {record.run_id}: {record.status}" + (f" ({plain(record.error)})" if record.error else ""))
    classes(comparison)
    downloads(store, comparison, curves)


HEADLINE = ("test acc", "wall time", "training FLOPs", "time to target")  # the costs a class compares first


def headline(summary: dict) -> None:
    """Four numbers of both runs side by side, above the curves; every measure is in the cost table below."""
    rows = {label: (t, s) for label, t, s in comparison_rows(summary) if label in HEADLINE}
    for column, label in zip(st.columns(len(HEADLINE)), [label for label in HEADLINE if label in rows]):
        column.markdown(f"**{label}**  \ntransfer {plain(rows[label][0])}  \nscratch {plain(rows[label][1])}")


def costs(summary: dict, comparison_id: str) -> None:
    """The cost table beside the cost bars; a static table, so no column or row hides behind a scroll bar."""
    table, bars = st.columns([5, 6])
    rows = [tuple(map(plain, row)) for row in comparison_rows(summary)]  # st.table reads Markdown: '-' is a bullet
    table.table(pd.DataFrame({"transfer": [r[1] for r in rows], "scratch": [r[2] for r in rows]},
                             index=pd.Index([r[0] for r in rows], name="measure")))
    bars.plotly_chart(plots.cost_bars(summary), key=f"cost-bars-{comparison_id}", config={"displayModeBar": False})


def classes(comparison: Comparison) -> None:
    finished = [r for r in comparison.transfer[:1] + comparison.scratch[:1] if r.confusion]
    if not finished:
        return
    with st.expander("accuracy of each class and confusion matrices (test split)"):
        st.plotly_chart(plots.per_class_accuracy({r.role: (r.per_class_acc, r.classes) for r in finished}),
                        key=f"per-class-{comparison.comparison_id}")
        for column, record in zip(st.columns(len(finished)), finished):
            column.plotly_chart(plots.confusion_heatmap(record.confusion, record.classes, f"{record.role}, test split"),
                                key=f"confusion-{record.run_id}")


def downloads(store: RunStore, comparison: Comparison, curves) -> None:
    """CSV of every epoch and the curves as a page that works offline (plotly.js inside); made on click only. And
    the comparison's settings as a link, to run it again."""
    run_ids = [r.run_id for r in comparison.transfer + comparison.scratch]
    cid = comparison.comparison_id
    a, b, c = st.columns(3)
    a.download_button("runs as CSV", lambda: store.export_csv(run_ids), f"{cid}.csv", "text/csv", key=f"csv-{cid}")
    b.download_button("curves as HTML (works offline)", lambda: curves.to_html(include_plotlyjs=True),
                      f"{cid}-curves.html", "text/html", key=f"html-{cid}")
    again_link(comparison.config, store.root, c)


def compare_runs(store: RunStore, comparisons: dict[str, Comparison], problems: dict[str, str]) -> None:
    """Accuracy against one setting, one line per group of comparisons that differ in that setting only."""
    for run_id, problem in problems.items():
        st.warning(f"run {run_id} is shown as unreadable: {plain(problem)}")
    comparisons = {c: comparison for c, comparison in comparisons.items() if not comparison.empty}
    if not comparisons:
        st.info("no comparisons recorded yet")
        return
    chosen = st.multiselect("comparisons to compare", list(comparisons), default=list(comparisons)[:50],
                            format_func=lambda c: comparison_label(comparisons[c]), key="compare_set")
    keys = [m.key for m in ACCURACIES]
    metric = st.radio("accuracy", keys, index=keys.index("test_acc"), horizontal=True, key="sweep_metric",
                      format_func=lambda k: next(m.label for m in ACCURACIES if m.key == k))
    loaded = [comparisons[c] for c in chosen]
    drawn = 0
    for parameter in SWEEPABLE:
        for index, group in enumerate(sweep_groups(loaded, parameter)):
            drawn += 1
            st.subheader(f"accuracy against {option(parameter).label}")
            st.caption(f"{len(group.points)} comparisons; held fixed: {plain(settings_text(group.fixed))}")
            st.plotly_chart(plots.sweep_curve(group.points, parameter, metric), key=f"sweep-{parameter}-{index}")
    drawn += grid_heatmaps(grid_groups(loaded), metric, "compare", tangled_pairs(loaded))
    if not drawn:
        st.info("No two of these comparisons differ in exactly one setting, so no line can be drawn honestly. "
                "A sweep (sidebar: what to run, sweep) gives such a line.")
    run_ids = [r.run_id for c in loaded for r in c.transfer + c.scratch]
    if run_ids:
        st.download_button("selected runs as CSV", lambda: store.export_csv(run_ids), "runs.csv", "text/csv",
                           key="store_csv")


MAX_TANGLED = 3  # sentences about settings changed together, on a page that may hold a class's comparisons


def grid_heatmaps(groups: list[GridGroup], metric: str, key: str, tangled: list[GridGroup] = ()) -> int:
    """A heatmap per two-setting grid, of transfer, scratch, or what pre-training bought; how many were drawn.
    Two settings that only changed together (``tangled``) get a sentence saying so, not a grid."""
    for index, group in enumerate(groups):
        st.subheader(f"{option(group.parameter).label} × {option(group.parameter2).label}")
        role = st.radio("show", list(TITLES), format_func=TITLES.get, horizontal=True, key=f"{key}-grid-role-{index}")
        empty = sum(cell_value(c, metric, role) is None for c in group.comparisons)
        st.caption(f"{len(group.comparisons)} comparisons on {len(group.pairs())} cells"
                   + (f"; {empty} without a result (stopped before it), left empty" if empty else "")
                   + f"; held fixed: {plain(settings_text(group.fixed))}")
        st.plotly_chart(sweep_heatmap(group.comparisons, group.parameter, group.parameter2, metric, role),
                        key=f"{key}-grid-{index}")
    for group in tangled[:MAX_TANGLED]:
        st.info(plain(tangled_text(group.parameter, group.parameter2, group.pairs())))
    if len(tangled) > MAX_TANGLED:
        st.caption(f"and {len(tangled) - MAX_TANGLED} more groups of comparisons whose two settings changed together")
    return len(groups)
