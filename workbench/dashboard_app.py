"""Transfer Workbench dashboard: launch comparisons and sweeps, watch transfer vs scratch side by side.

Served by `workbench dashboard` (installed package) or `streamlit run dashboard.py` (a checkout); both
run `main()` here on every rerun. The sidebar is `dashboard_sidebar`, the main area `dashboard_views`.

Only layout lives here: training runs in a worker process (`workbench.jobs`), charts come from
`workbench.plots`. Each page has an id in its address (``?session=...``), so a reload is the same
person: their job's Stop button, its errors and their settings come back, and no one else sees them.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

import streamlit as st

from workbench.config import ComparisonConfig
from workbench.dashboard_explorer import explorer_tab
from workbench.dashboard_inside import inside_tab
from workbench.dashboard_sidebar import follow, restore, sidebar
from workbench.dashboard_views import compare_runs, pick_comparison, progress, show_comparison, sweep_so_far
from workbench.errors import WorkbenchError
from workbench.experiment import group_comparisons
from workbench.jobs import Job, JobBoard, prepare_worker
from workbench.preflight import preflight
from workbench.runs import RunStore, runs_dir_from_env

REFRESH_SECONDS = 2.0  # while a job trains: a light refresh, as the training shares this CPU
FIRST_REFRESH_SECONDS = 0.5  # until the job's first epoch is on screen: a click answers within ~2 s


def runs_dir() -> Path:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-dir", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    return Path(known.runs_dir) if known.runs_dir else runs_dir_from_env()


@st.cache_resource
def job_board() -> JobBoard:
    """One board per server process: every page sees the job in training, and a reload finds it still running."""
    return JobBoard()


def page_owner() -> str:
    """This page's id, kept in its address so that a reload is still the same person."""
    owner = st.query_params.get("session")
    if not owner:
        owner = st.query_params["session"] = uuid.uuid4().hex[:10]
    return owner


def demo(store: RunStore, board: JobBoard, owner: str) -> None:
    """The empty page's one button: the default comparison."""
    st.info("No runs yet. The default demo fine-tunes EfficientNet-Lite0 on real photo textures "
            "(10 labels per class) and trains it from scratch: about a minute on a laptop CPU.")
    if st.button("Run the default demo", type="primary", key="demo"):
        try:
            configs = [ComparisonConfig()]
            preflight(configs)
            follow(board.launch(Job(configs, store, label="default demo", in_process=True, owner=owner)))
        except WorkbenchError as exc:
            st.session_state["launch_error"] = str(exc)
        st.rerun()


def job_records(store: RunStore, job: Job) -> list:
    """Only the running job's records: the refresh during training reads two files, not the whole store."""
    rows, _ = store.list_runs(comparison_id=job.comparison_ids)
    return [store.load(row["run_id"]) for row in rows]


def main() -> None:
    st.set_page_config(page_title="Transfer Workbench", layout="wide")
    store, board, owner = RunStore(runs_dir()), job_board(), page_owner()
    st.title("Transfer Workbench")
    st.caption(f"Fine-tune a pre-trained CNN and train it from scratch under identical conditions. "
               f"Runs saved in `{store.root.resolve()}`")
    records, problems = store.scan()
    recorded = group_comparisons(records)
    restore(board, owner)
    sidebar(store, board, owner, {r.config["dataset"]: len(r.classes) for r in records if r.classes})
    running = board.running()
    if running is None:
        prepare_worker()  # the next job's worker imports the engine now, not after the click
    first_epoch_due = running is not None and not any(r.epochs for r in job_records(store, running))

    @st.fragment(run_every=None if running is None else FIRST_REFRESH_SECONDS if first_epoch_due else REFRESH_SECONDS)
    def live() -> None:
        job = board.running()
        if running is not None and job is None:
            st.rerun()  # the job just ended: draw the whole page once, with costs and downloads
        progress(job or board.latest(owner), owner)
        comparisons = recorded
        if job is not None:
            training = job_records(store, job)
            if first_epoch_due and any(r.epochs for r in training):
                st.rerun()  # the first epoch is in: the whole page once, then the slower refresh
            comparisons = {**recorded, **group_comparisons(training)}
            comparisons = {c: comparisons[c] for c in [*reversed(job.comparison_ids), *recorded] if c in comparisons}
        sweep_so_far(job, comparisons)
        if not comparisons and job is None:
            demo(store, board, owner)
            return
        if job is not None:  # keep the refresh light: the browser and this server share the CPU with training
            comparison = pick_comparison(comparisons, job)
            show_comparison(store, comparison, live=comparison.comparison_id in job.comparison_ids)
            return
        curves, history, inside, explorer = st.tabs(["Transfer vs scratch", "Compare runs", "Inside the networks",
                                                     "Backbones"])
        with curves:
            comparison = pick_comparison(comparisons, board.latest(owner))
            show_comparison(store, comparison, live=False)
        with history:
            compare_runs(store, comparisons, problems)
        with inside:
            inside_tab(store, comparison)
        with explorer:
            explorer_tab()

    live()
