"""Transfer Workbench dashboard: launch comparisons and sweeps, watch transfer vs scratch side by side.

Served by `workbench dashboard` (installed package) or `streamlit run dashboard.py` (a checkout); both
run `main()` here on every rerun. The sidebar is `dashboard_sidebar`, the main area `dashboard_views`.

Only layout lives here: training runs in a worker process (`workbench.jobs.job`), charts come from
`workbench.present.plots`. Each page has an id in its address (``?session=...``), so a reload finds its
job; the browser that first opened it owns it (`dashboard.owners`: a token in a cookie, not in the address),
and gets its job's place in line, its Stop button, its errors and their settings back; another browser
opening the same address sees the job's progress, read-only. Jobs wait in the run folder's queue
(`workbench.jobs.queue`): at most ``--max-jobs`` train at once, and one Launch asks for no more than the
server's limits (`workbench.spec.limits`); with ``--teacher`` a page can stop anyone's (it asks for the
teacher's secret when it listens beyond this machine). The page reads the run store through a `StoreView`,
which loads only the records that changed since the last page run.
"""

from __future__ import annotations

import uuid

import streamlit as st

from workbench.core.errors import WorkbenchError
from workbench.dashboard.class_board import class_board, queue_panel
from workbench.dashboard.estimate import measurer
from workbench.dashboard.explorer import explorer_tab
from workbench.dashboard.gather import gather_tab
from workbench.dashboard.inside import inside_tab
from workbench.dashboard.lessons import lesson_picker
from workbench.dashboard.links import open_link, settings_in_address
from workbench.dashboard.owners import browser_token, dataset_viewer, page_claims, remember_in_browser
from workbench.dashboard.phone import PHONE, page_base, phone_page
from workbench.dashboard.play import play_tab
from workbench.dashboard.server import camera_allowed, folder_roots, server_options, teacher_page_open
from workbench.dashboard.sidebar import follow, restore, sidebar
from workbench.dashboard.views import PICKED, compare_runs, pick_comparison, progress, show_comparison, sweep_so_far
from workbench.data.gathered.shelf import DatasetShelf
from workbench.experiments.comparisons import group_comparisons
from workbench.jobs.board import JobBoard
from workbench.jobs.job import Job
from workbench.jobs.pool import prepare_worker
from workbench.present import plots
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.lesson_files import ClassLesson
from workbench.spec.limits import Limits
from workbench.spec.preflight import preflight
from workbench.store.runs import RunStore
from workbench.store.view import StoreView

REFRESH_SECONDS = 2.0  # a training job's progress line: a light refresh, as the training shares this CPU
FIRST_REFRESH_SECONDS = 0.5  # until the job's first epoch is on screen: a click answers within ~2 s
WAITING_REFRESH_SECONDS = 4.0  # a place in line changes only when a job ends
# The live chart: each new figure is drawn afresh by the browser (a second of a slow laptop's CPU, where 8 pages
# redrawing every 2 s took more of the class server's cores than the training did).
CURVES_REFRESH_SECONDS = 5.0
TEACHER_REFRESH_SECONDS = 5.0  # a teacher's page follows the class's queue while anyone's job is in it
TABS = ("Transfer vs scratch", "Your images", "Play", "Compare runs", "Class board", "Inside the networks", "Backbones")
# At 1280x800 Streamlit's own top margins (6rem above the page, a sidebar header for a logo) and a 2.75rem title
# pushed the live chart's axis and legend below the fold; a fixed stylesheet, no user text in it.
COMPACT = """<style>
[data-testid="stHeader"] { background: transparent; }
[data-testid="stMainBlockContainer"] { padding-top: 1.2rem; padding-bottom: 2rem; }
[data-testid="stSidebarHeader"] { height: 2rem; padding-top: 0.5rem; padding-bottom: 0; }
[data-testid="stSidebarUserContent"] { padding-top: 0.25rem; }
h1 { font-size: 1.9rem !important; padding: 0 0 0.25rem 0 !important; }
</style>"""


@st.cache_resource
def job_board(root: str, max_jobs: int | None) -> JobBoard:
    """One board per server and run folder: every page sees the queue, and a reload finds its job still there."""
    return JobBoard(root, max_jobs, measuring=measurer.busy)


@st.cache_resource
def store_view(root: str) -> StoreView:
    """One copy of the run store per server, brought up to date from the change feed on each page run."""
    return StoreView(RunStore(root))


def page_owner() -> str:
    """This page's id, kept in its address so that a reload is still the same person. An address with settings
    in it is a link (`dashboard.links`): it opens a fresh page of one's own, whatever page id came with it."""
    owner = None if settings_in_address() else st.query_params.get("session")
    if not owner:
        owner = st.query_params["session"] = uuid.uuid4().hex[:10]
    return owner


def demo(store: RunStore, board: JobBoard, owner: str, limits: Limits | None = None, pages: set[str] = ()) -> None:
    """The empty page's one button: the default comparison."""
    st.info("No runs yet. The default demo fine-tunes EfficientNet-Lite0 on real photo textures "
            "(10 labels per class) and trains it from scratch: about a minute on a laptop CPU.")
    if st.button("Run the default demo", type="primary", key="demo"):
        try:
            configs = [ComparisonConfig()]
            if limits is not None:
                limits.check_queued(sum(board.active(page) is not None for page in pages))
                limits.check(configs)
            preflight(configs)
            follow(board.launch(Job(configs, store, label="default demo", worker_process=True, owner=owner,
                                    name=st.session_state.get("student_name", ""))))
        except WorkbenchError as exc:
            st.session_state["launch_error"] = str(exc)
        st.rerun()


def job_records(store: RunStore, job: Job) -> list:
    """Only this job's records: the refresh during training reads two files, not the whole store."""
    rows, _ = store.list_runs(comparison_id=job.comparison_ids)
    records = []
    for row in rows:
        try:
            records.append(store.load(row["run_id"]))
        except WorkbenchError:
            pass  # changed since it was indexed (edited by hand?): the next refresh lists it as unreadable
    return records


def refresh_every(mine: Job | None, first_epoch_due: bool, board: JobBoard, teacher: bool) -> float | None:
    """The progress line: fast until this page's first epoch shows, slower while it trains, slower still while it
    waits in line, never when idle."""
    if mine is not None and mine.state == "queued":
        return WAITING_REFRESH_SECONDS
    if mine is not None:
        return FIRST_REFRESH_SECONDS if first_epoch_due else REFRESH_SECONDS
    return TEACHER_REFRESH_SECONDS if teacher and board.active() is not None else None


def curves_refresh(mine: Job | None, first_epoch_due: bool) -> float | None:
    """The live chart only once it has an epoch to draw: until then (and while the job waits) there is nothing new to
    show, and the progress line reruns the whole page when the first epoch comes in."""
    return CURVES_REFRESH_SECONDS if mine is not None and mine.state == "running" and not first_epoch_due else None


def watch(store: RunStore, board: JobBoard, page: str) -> None:
    """Another browser's page, opened from a copy of its address: its job's progress and curves, read-only."""
    st.info("This address belongs to a page opened in another browser: you see its progress, read-only. "
            "[Open a page of your own](./)")
    shown = board.latest(page)

    @st.fragment(run_every=CURVES_REFRESH_SECONDS if shown is not None and shown.active else None)
    def live() -> None:
        job = board.latest(page)
        if job is not shown or (shown is not None and shown.active and not job.active):
            st.rerun()  # a new job, or the one shown ended: the whole page once, with its new refresh
        if job is None:
            st.caption("nothing launched from that page yet")
            return
        progress(job, board, page)
        comparison = group_comparisons(job_records(store, job)).get(job.current_comparison)
        if comparison is not None and any(r.epochs for r in comparison.transfer + comparison.scratch):
            st.plotly_chart(plots.learning_curves(comparison.summary(), "epoch", live=job.active),
                            key="watched-curves")

    live()


def class_board_tab(view: StoreView, board: JobBoard, teacher: bool, store: RunStore, lesson: ClassLesson) -> None:
    """The class board; on the teacher's page, the class's lesson above it."""
    if teacher:
        lesson_picker(store.root)
    class_board(view, board, teacher, lesson.lesson)


def main() -> None:
    page()


def page() -> None:
    st.set_page_config(page_title="Transfer Workbench", layout="wide")
    st.html(COMPACT)
    server = server_options()
    if st.query_params.get(PHONE):  # a phone that scanned a student's QR code: that one class's upload, nothing more
        phone_page(st.query_params[PHONE])
        return
    store, owner = RunStore(server.runs_dir), page_owner()
    board, view = job_board(str(store.root), server.max_jobs), store_view(str(store.root))
    st.title("Transfer Workbench")
    token = browser_token()
    if server.teacher and not teacher_page_open(server):
        return
    if not page_claims().owns(owner, token):
        watch(store, board, owner)
        remember_in_browser(st)
        return
    pages = page_claims().pages_of(token)  # this person's pages (another tab is the same person)
    # Where the server keeps its files is the teacher's business: a class page names the folder, not its path.
    where = store.root.resolve() if server.teacher else store.root.resolve().name
    st.caption(f"Fine-tune a pre-trained CNN and train it from scratch under identical conditions. "
               f"Runs saved in `{where}`" + (" · teacher mode" if server.teacher else ""))
    viewer = None if server.teacher else dataset_viewer(token)
    shelf = DatasetShelf(store.root, server.quotas)
    training_before = board.active(owner)  # (read before the records: see below)
    records, problems = view.refresh()
    # A comparison stopped before its first epoch has nothing to show, ever: not offered (issue 22's ghosts).
    recorded = {c: comparison for c, comparison in group_comparisons(records).items() if not comparison.empty}
    restore(board, owner)
    open_link(shelf, viewer, launched=board.latest(owner) is not None)  # after restore: a link's settings win
    lesson = ClassLesson.read(store.root)  # the teacher's page may change it at any time: read on every run
    lesson = lesson.for_teacher() if server.teacher else lesson
    # The estimate under Launch is drawn last: a first calibration takes seconds, and the page is drawn before it.
    estimate = sidebar(store, board, owner, {RunConfig.of(r).dataset: len(r.classes) for r in records if r.classes},
                       folder_roots(server, store, viewer), server.limits, pages, shelf.list(viewer), viewer, lesson)
    # At the sidebar's foot, nothing below it to move, and early: a page reloaded before this run reached its end
    # (a first calibration, a busy class server) came back as "another browser's", read-only, its token unsaved.
    remember_in_browser(st.sidebar)
    mine = board.active(owner)
    if training_before is not None and mine is None:
        # The job ended while this run drew the sidebar (a first calibration takes seconds): its records were read
        # before they existed, and a page with no job has no refresh. Again, with them, rather than frozen.
        st.rerun()
    if not board.training():
        prepare_worker()  # the next job's worker imports the engine now, not after the click
    first_epoch_due = mine is not None and not any(r.epochs for r in job_records(store, mine))
    waiting = mine is not None and mine.state == "queued"

    @st.fragment(run_every=refresh_every(mine, first_epoch_due, board, server.teacher))
    def header() -> None:
        """This page's job and the queue, above the tabs: in view whichever tab is open (a teacher shows the class
        board while their own demo trains)."""
        job = board.active(owner)
        if mine is not None and job is None:
            st.rerun()  # the job just ended: draw the whole page once, with costs and downloads
        if waiting and job is not None and job.state == "running":
            st.rerun()  # out of the line: the faster refresh until its first epoch shows
        if job is not None and first_epoch_due and any(r.epochs for r in job_records(store, job)):
            st.rerun()  # the first epoch is in: the whole page once, then the slower refresh
        progress(job or board.latest(owner), board, owner)
        queue_panel(board, owner, server.teacher)

    header()
    # Only the open tab runs (Streamlit's lazy tabs): a page showing the curves does not redraw the class board.
    curves, gather, play, history, board_tab, inside, explorer = st.tabs(list(TABS), key="view_tab", on_change="rerun")
    if not recorded and mine is None:
        if curves.open is not False:
            with curves:
                if lesson.lesson is None:
                    demo(store, board, owner, server.limits, pages)
                else:  # the default demo is not the lesson's: its settings are in the sidebar
                    st.info("No runs yet. Read what to do at the top of the sidebar, pick your settings, predict, "
                            "then Launch.")
        if gather.open:
            with gather:
                gather_tab(shelf, viewer, camera_allowed(st.context.url), page_base(st.context.url))
        if board_tab.open:
            with board_tab:  # a lesson is set before the class's first run
                class_board_tab(view, board, server.teacher, store, lesson)
        estimate(view.token)  # the run folder as this run saw it: a run saved since then is new to it
        return
    shown: list[str] = []  # the comparison the other tabs were drawn for, in this run of the whole page

    @st.fragment(run_every=curves_refresh(mine, first_epoch_due))
    def transfer_vs_scratch() -> None:
        job = board.active(owner)
        latest = job or board.latest(owner)
        comparisons = recorded
        if latest is not None:  # read from its own records too: the run folder's view can lag a job that just ended
            comparisons = {**recorded, **group_comparisons(job_records(store, latest))}
            comparisons = {c: comparisons[c] for c in [*reversed(latest.comparison_ids), *recorded] if c in comparisons}
        sweep_so_far(job, comparisons)
        comparison = pick_comparison(comparisons, latest)
        if shown and comparison is not None and comparison.comparison_id != shown[0]:
            st.rerun()  # another comparison picked: the whole page, so that "Inside the networks" follows it
        if comparison is not None:  # the live view stays light: the browser and this server share the CPU with training
            show_comparison(store, comparison, live=job is not None and comparison.comparison_id in job.comparison_ids)

    if curves.open is not False:
        with curves:
            transfer_vs_scratch()
    shown.append(st.session_state.get(PICKED) or "")
    chosen = recorded.get(shown[0])
    if gather.open:
        with gather:
            gather_tab(shelf, viewer, camera_allowed(st.context.url), page_base(st.context.url))
    if play.open:
        with play:
            play_tab(store, chosen, shelf, viewer, camera_allowed(st.context.url))
    if history.open:
        with history:
            compare_runs(store, recorded, problems)
    if board_tab.open:
        with board_tab:
            class_board_tab(view, board, server.teacher, store, lesson)
    if inside.open:
        with inside:
            runs = chosen.transfer + chosen.scratch if chosen is not None else []
            finished = bool(runs) and all(r.status != "running" for r in runs)
            if runs and shelf.hides_images_of(RunConfig.of(runs[0]).dataset, viewer):
                st.info("These networks trained on a classmate's own images: only they (and the teacher) can look "
                        "inside them. Pick a comparison of yours in the Transfer vs scratch tab.")
            else:
                inside_tab(store, chosen if finished else None)
    if explorer.open:
        with explorer:
            explorer_tab()
    estimate(view.token)
