"""The dashboard's class view: the training queue (who trains, who waits) and the class board.

Layout only: the queue is `workbench.jobs.queue`'s, the lines are `experiment.sweep_groups` pooled over
everyone's comparisons, drawn by `plots.sweep_curve` like any sweep.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from workbench.core.metrics import ACCURACIES
from workbench.dashboard.lessons import lesson_chart
from workbench.dashboard.predictions import class_predictions
from workbench.dashboard.text import plain
from workbench.dashboard.views import grid_heatmaps
from workbench.experiments.comparisons import Comparison, group_comparisons
from workbench.experiments.grouping import grid_groups, sweep_groups, tangled_pairs
from workbench.jobs.board import JobBoard
from workbench.present import plots
from workbench.present.report import comparison_label, settings_text
from workbench.spec.lessons import Lesson
from workbench.spec.options import SWEEPABLE, option
from workbench.store.view import StoreView

ANONYMOUS = "(no name)"


def _who(job: dict) -> str:
    return job["name"] or ("terminal" if (job["owner"] or "").startswith("cli:") else ANONYMOUS)


QUEUE_REFRESH_SECONDS = 5.0  # the line redraws itself alone (a small fragment) while anyone's job is in it
BOARD_REFRESH_SECONDS = 10.0  # the class board follows the results while its tab is open (the app's tabs are lazy)


def queue_panel(board: JobBoard, owner: str, teacher: bool) -> None:
    """The line of jobs in this run folder, kept current on its own while it is not empty (on a teacher's page,
    always: the class's jobs come from another server, and the teacher waits for them here)."""
    busy = teacher or bool(board.queue.jobs(("queued", "running")))

    @st.fragment(run_every=QUEUE_REFRESH_SECONDS if busy else None)
    def line() -> None:
        _queue(board, owner, teacher)

    line()


def _queue(board: JobBoard, owner: str, teacher: bool) -> None:
    """Everyone sees who trains and who waits; a teacher's page can stop any job in it."""
    jobs = board.queue.jobs(("queued", "running"))
    if not jobs:
        return
    training = sum(job["state"] == "running" for job in jobs)
    with st.expander(f"training queue: {training} training, {len(jobs) - training} waiting "
                     f"(at most {board.max_jobs} at once)", expanded=teacher):
        for place, job in enumerate(jobs, start=1 - training):
            since = time.time() - (job["started"] or job["created"])
            state = "training" if job["state"] == "running" else f"waiting, number {place}"
            text = (f"**{plain(_who(job))}**{' (you)' if job['owner'] == owner else ''} · {plain(job['label'])} · "
                    f"{state} · {since:.0f} s")  # a name is typed by anyone: drawn as text, never as Markdown
            if not teacher:
                st.markdown(text)
                continue
            left, right = st.columns([5, 1])
            left.markdown(text)
            if right.button("Stop", key=f"stop-{job['job_id']}"):
                ours = board.find(job["job_id"])
                # this server's job directly; another's (a class server, a terminal) through the queue
                ours.stop(by="the teacher") if ours is not None else board.queue.stop(job["job_id"])
                st.rerun()


def class_board(view: StoreView, board: JobBoard, teacher: bool, lesson: Lesson | None = None) -> None:
    """The board, following new results by itself while it is shown (every page: it was a snapshot until "refresh",
    and the app draws only the open tab, so a page looking elsewhere pays nothing)."""
    @st.fragment(run_every=BOARD_REFRESH_SECONDS)
    def current() -> None:
        records, _ = view.refresh()  # only what changed since the last look is read
        left, right = st.columns([4, 1])
        left.caption(f"as of {time.strftime('%H:%M:%S')}, refreshed every {BOARD_REFRESH_SECONDS:.0f} s")
        right.button("refresh", key="board_refresh")  # now, not in 10 s: a click reruns this fragment only
        comparisons = {c: x for c, x in group_comparisons(records).items() if not x.empty}  # no Stop-before-epoch ghosts
        _board(comparisons, board.queue.owners(), view.store.root, lesson)

    current()


def _board(comparisons: dict[str, Comparison], owners: dict[str, dict], root, lesson: Lesson | None) -> None:
    """The lesson's chart (under a lesson), the class's predictions against the results, every comparison in the
    store by who ran it, and the class's lines from the finished ones: one point per value tried."""
    if not comparisons:
        st.info("no comparisons recorded yet")
        return
    finished = [c for c in comparisons.values() if c.transfer and c.scratch
                and all(r.status == "completed" for r in c.transfer + c.scratch)]
    keys = [m.key for m in ACCURACIES]
    metric = st.radio("accuracy", keys, index=keys.index("test_acc"), horizontal=True, key="board_metric",
                      format_func=lambda k: next(m.label for m in ACCURACIES if m.key == k))
    drawn = 0
    if lesson is not None:
        drawn += lesson_chart(lesson, finished, metric)
    class_predictions(root, {c.comparison_id: c for c in finished}, owners)
    for parameter in SWEEPABLE:
        for index, group in enumerate(sweep_groups(finished, parameter, pool=True)):
            drawn += 1
            runs = sum(p["comparisons"] for p in group.points)
            st.subheader(f"the class's {option(parameter).label}")
            st.caption(f"{runs} comparisons at {len(group.points)} values; each point is the mean over every run "
                       f"at that value (bars: one standard deviation); held fixed: {plain(settings_text(group.fixed))}")
            st.plotly_chart(plots.sweep_curve(group.points, parameter, metric), key=f"board-{parameter}-{index}")
    drawn += grid_heatmaps(grid_groups(finished, pool=True), metric, "board", tangled_pairs(finished, pool=True))
    if not drawn:
        st.info("No line yet: the class's comparisons do not yet differ in exactly one setting. When each person "
                "keeps the defaults and changes one setting (say, freeze depth), the class's curve appears here.")
    rows, finished_ids = [], {c.comparison_id for c in finished}
    for comparison in comparisons.values():
        summary = comparison.summary()
        who = owners.get(comparison.comparison_id)
        rows.append({"who": (who["name"] or ANONYMOUS) if who else "not from the queue",
                     "transfer": (summary["transfer"] or {}).get(metric),
                     "scratch": (summary["scratch"] or {}).get(metric),
                     "finished": comparison.comparison_id in finished_ids,
                     "comparison": comparison_label(comparison)})
    table = pd.DataFrame(rows).sort_values(["who", "comparison"], kind="stable")
    st.subheader("by person")
    st.dataframe(table, hide_index=True, placeholder="no result", height=35 * (min(len(table), 40) + 1) + 3,
                 column_config={  # stopped or training: not 'None'
        role: st.column_config.NumberColumn(role, format="percent") for role in ("transfer", "scratch")})
