"""The dashboard's sidebar, drawn from the option spec: one control per option, one renderer per kind.

Every control is keyed by its option's name, so what the page holds is ``st.session_state[name]``;
Launch turns those values into configs with the engine's `configs_from_values` (the notebook
panels call the same function) after the engine's `preflight` checks. A mistake is shown under
Launch, in this page only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import streamlit as st

from workbench.core.errors import DataError, WorkbenchError
from workbench.dashboard.controls import control, lesson_control
from workbench.dashboard.estimate import estimate_line
from workbench.dashboard.gather import owner_label
from workbench.dashboard.lessons import fixed_note, lesson_header
from workbench.dashboard.links import FOLDER, GATHERED, settings_link
from workbench.dashboard.predictions import form_prediction, prediction_form, record_prediction
from workbench.dashboard.text import plain
from workbench.dashboard.views import PICKED
from workbench.data.gathered.dataset import GatheredDataset
from workbench.data.loading import confined, dataset_kind, list_datasets, suggested_datasets
from workbench.data.roots import DATASETS, DataRoots, folder_argument
from workbench.experiments.grids import configs_from_values
from workbench.jobs.board import JobBoard
from workbench.jobs.job import Job
from workbench.models.backbones import get_backbone
from workbench.models.weights.status import weights_status
from workbench.present import plots
from workbench.spec.lesson_files import ClassLesson
from workbench.spec.lessons import Lesson
from workbench.spec.limits import Limits, count_values
from workbench.spec.options import SWEEPABLE, Option, option, shown_in, sweep_hint
from workbench.spec.preflight import class_count, preflight
from workbench.store.runs import RunStore

GROUPS = {"finetuning": "discriminative rates and gradual unfreezing", "training": "training details"}
NO_GRID = "nothing else"
ESTIMATED_RUNS = 400  # more than this is not estimated under Launch (Launch's own limits speak for it)
FORM_KEYS = ("dataset_folder", "mode", "sweep", "sweep2", "student_name")  # what the sidebar holds besides the options


def dataset_control(o: Option, where, roots: DataRoots | None = None, gathered: list[GatheredDataset] = (),
                    viewer: str | None = None) -> None:
    """Suggested datasets, the class's gathered ones this page may see, and "your image folder" (with its path): the
    dataset option as a picker. On a class page (``roots``) the path must lie inside a data root, and with none
    named no path is offered."""
    mine = {f"{GATHERED}{d.name}": owner_label(d, viewer) for d in gathered}
    choices = suggested_datasets() + list(mine) + [FOLDER]
    if st.session_state.setdefault(o.name, o.default) not in choices:
        st.session_state[o.name] = FOLDER
    described = "\n".join(f"- **{name}**: {text}" for name, text in list_datasets().items())
    described += "\n- datasets gathered in the **Your images** tab: yours, and those classmates shared"
    if where.selectbox(o.label, choices, key=o.name, help=described,
                       format_func=lambda c: f"{c.removeprefix(GATHERED)} · {mine[c]}" if c in mine else c) != FOLDER:
        return
    if roots is not None and not roots.named:
        where.caption(plain(roots.refusal()))
        return
    inside = "" if roots is None else f"; a folder inside this server's data folders ({roots.names()})"
    where.text_input("image folder path", key="dataset_folder",
                     placeholder=f"a folder in {roots.names()}" if roots else "/home/me/photos",
                     help="one sub-folder of images per class, optionally inside train/ val/ test/" + inside)


@st.cache_data(show_spinner=False, ttl=60)
def _class_count(dataset: str, roots: DataRoots | None) -> int | None:
    return class_count(dataset, roots)


def backbone_notes(name: str, where) -> None:
    backbone = get_backbone(name)
    ready, command = weights_status(name)
    where.caption(f"{backbone.backbone_params():,} parameters in {backbone.num_stages} stages · "
                  + ("ImageNet weights on this machine" if ready else
                     f"ImageNet weights download on first use; offline, run `{command}` first"))


def stage_map(backbone: str, freeze_depth: int, classes: int | None, where) -> None:
    spec = get_backbone(backbone)
    head = spec.head_params(classes) if classes else None
    where.plotly_chart(plots.stage_map(spec.stage_param_counts(), freeze_depth, head), key="stage_map",
                       config={"displayModeBar": False})
    if head is None:
        where.caption("the new head's size depends on the class count, known once the data is read")


def sweep_key(sweep: str, backbone: str) -> str:
    """Each swept option (and backbone) keeps its own values, starting from the engine's hint."""
    return f"sweep_values:{sweep}:{backbone}"


def form_values(roots: DataRoots | None = None, runs_root: Path | None = None, lesson: Lesson | None = None) -> dict:
    """What the page holds now, as {option name: value}. A callback reads it here: this is each widget's
    newest value, also for one changed in the same click (a number typed, then Launch). On a class page
    (``roots``) an image folder inside a root is given resolved, so the job reads the folder that was checked;
    a gathered dataset is its folder in the run folder (``runs_root``). Under a ``lesson``, what it fixes is its."""
    values = {o.name: st.session_state[o.name] for o in shown_in("dashboard") if o.name in st.session_state}
    if lesson is not None:
        values.update(lesson.fixed_values())
    if str(values.get("dataset", "")).startswith(GATHERED) and runs_root is not None:
        folder = str(Path(runs_root) / DATASETS / values["dataset"].removeprefix(GATHERED))
        try:
            folder = folder_argument(folder, roots)
        except DataError:
            pass  # not this page's to read (unshared since?): Launch's preflight refuses it in one line
        values["dataset"] = f"imagefolder:{folder}"
    if values.get("dataset") == FOLDER:
        text = st.session_state.get("dataset_folder", "").strip()
        try:
            text = folder_argument(text, roots)
        except DataError:
            pass  # left as typed: the stage map does not open it, and Launch's preflight refuses it
        values["dataset"] = f"imagefolder:{text}"
    return values


def sidebar(store: RunStore, board: JobBoard, owner: str, known_classes: dict[str, int],
            roots: DataRoots | None = None, limits: Limits | None = None, pages: set[str] = (),
            gathered: list[GatheredDataset] = (), viewer: str | None = None,
            lesson: ClassLesson = ClassLesson()) -> Callable[[str | None], None]:
    """Options by group, the stage map, what to run, Launch and Stop, and this page's own errors; returns what
    draws the estimate under Launch, for the page to call once it is drawn. ``roots``:
    where a class page's image folders may be (`workbench.data.roots`); None on the teacher's page. ``limits``:
    what one Launch may ask for (None: anything), ``pages``: every page of this person (the queue limit).
    Under a ``lesson`` (`workbench.spec.lessons`), only what it lets students change, and no sweeps."""
    bar, taught = st.sidebar, lesson.lesson
    if taught is not None:
        lesson_header(taught, board.latest(owner) is not None)
    estimate_slot = launch_controls(store, board, owner, roots, limits, pages, lesson)  # on top: in view at 1280x800
    map_slot = None
    for group in ("main", *GROUPS):
        shown = [o for o in shown_in("dashboard", group) if taught is None or o.name in taught.free]
        if not shown:
            continue
        where = bar if group == "main" else bar.expander(GROUPS[group])
        for o in shown:
            if o.name == "dataset":
                dataset_control(o, where, roots, gathered, viewer)
                continue
            if taught is not None:
                lesson_control(o, taught.free[o.name], where)
            else:
                control(o, st.session_state.get("backbone", option("backbone").default), where)
            if o.name == "backbone":
                backbone_notes(st.session_state["backbone"], where)
            if o.name == "freeze_depth":
                map_slot = where.container()  # drawn once the dataset, hence the head's size, is known
    if taught is not None:
        fixed_note(taught)
    values = form_values(roots, store.root, taught)
    backbone = values["backbone"]
    stage_map(backbone, values["freeze_depth"],
              known_classes.get(values["dataset"]) or _class_count(values["dataset"], roots), map_slot or bar)
    if taught is None:  # (a lesson's class runs one comparison per Launch: the board pools them into its chart)
        what_to_run(backbone)
        settings_link(bar)  # "copy a link to these settings"
    return lambda seen: _estimate_under_launch(estimate_slot, store, board, owner, roots, limits, lesson, seen)


def what_to_run(backbone: str) -> None:
    """A comparison, or a sweep over one setting (or a grid over two), each value one real comparison."""
    bar = st.sidebar
    if bar.radio("what to run", ["comparison", "sweep"], horizontal=True, key="mode") == "sweep":
        sweep = bar.selectbox("sweep over", SWEEPABLE, key="sweep", format_func=lambda n: option(n).label)
        key = sweep_key(sweep, backbone)
        st.session_state.setdefault(key, sweep_hint(sweep, backbone))
        bar.text_input("values", key=key, help="separated by spaces; each value is one real comparison")
        others = [NO_GRID] + [name for name in SWEEPABLE if name != sweep]
        _clamp_choice("sweep2", others)
        sweep2 = bar.selectbox("and over (a grid of every pair)", others, key="sweep2",
                               format_func=lambda n: n if n == NO_GRID else option(n).label)
        if sweep2 != NO_GRID:
            key2 = sweep_key(sweep2, backbone)
            st.session_state.setdefault(key2, sweep_hint(sweep2, backbone))
            bar.text_input("values ", key=key2, help="every value of the first setting with each of these")


def _clamp_choice(key: str, allowed: list) -> None:
    if st.session_state.get(key) not in allowed:
        st.session_state[key] = allowed[0]


def launch_controls(store: RunStore, board: JobBoard, owner: str, roots: DataRoots | None = None,
                    limits: Limits | None = None, pages: set[str] = (),
                    lesson: ClassLesson = ClassLesson()) -> st.delta_generator.DeltaGenerator:
    """Launch and Stop, then the name and the prediction. Launch joins the queue with what the sidebar holds below;
    Stop reaches only this page's own job. Returns the place for the estimate, under Launch."""
    mine = board.active(owner)
    left, right = st.sidebar.columns(2)
    left.button("Launch", type="primary", disabled=mine is not None, key="launch",
                on_click=launch, args=(store, board, owner, roots, limits, pages, lesson),
                help="your job is in line or training; stop it or wait for it" if mine else None)
    right.button("Stop", disabled=mine is None, key="stop", on_click=mine.stop if mine else None)
    if st.session_state.get("launch_error"):
        st.sidebar.error(plain(st.session_state["launch_error"]))  # it may quote a typed path
    last = board.latest(owner)
    if last is not None and last.state == "failed":
        st.sidebar.error(f"the last job stopped: {plain(last.error)}")
    estimate_slot = st.sidebar.container()  # filled last, once every option's widget holds its value
    st.sidebar.text_input("your name (shown on the class board)", key="student_name", max_chars=40,
                          placeholder="optional")
    target = st.session_state.get("target_acc", option("target_acc").default)
    if lesson.lesson is not None:
        target = lesson.lesson.fixed_values().get("target_acc", target)
    prediction_form(lesson.prediction_required, target, open_=lesson.lesson is not None and mine is None)
    return estimate_slot


def _estimate_under_launch(slot, store: RunStore, board: JobBoard, owner: str, roots: DataRoots | None,
                           limits: Limits | None, lesson: ClassLesson, runs_seen: str | None) -> None:
    """Drawn last, into its place under Launch (drawn in order, it read the options before their widgets existed).
    Nothing is measured beside this page's own job, just launched (it would measure its load), nor beyond the limits
    (a link asking for VGG-16 at 260 px measured for minutes, on a class page that refuses it at Launch)."""
    sweeping = st.session_state.get("mode") == "sweep" and lesson.lesson is None
    estimate_line(lambda: _configs_now(store, roots, lesson, limits), store.root,
                  "sweep" if sweeping else "comparison", slot, measure=board.active(owner) is None, runs_seen=runs_seen)


def _configs_now(store: RunStore, roots: DataRoots | None, lesson: ClassLesson, limits: Limits | None) -> list:
    """The comparisons Launch would queue now (a one-line `WorkbenchError` where they cannot run or pass ``limits``)."""
    values = form_values(roots, store.root, lesson.lesson)
    sweep = st.session_state.get("sweep") if st.session_state.get("mode") == "sweep" and lesson.lesson is None else None
    sweep2 = st.session_state.get("sweep2", NO_GRID) if sweep else NO_GRID
    sweep2 = None if sweep2 == NO_GRID else sweep2
    backbone = values.get("backbone", option("backbone").default)
    texts = [st.session_state.get(sweep_key(p, backbone), "") for p in (sweep, sweep2) if p] + ["", ""]
    dataset = str(values.get("dataset", ""))
    kind, folder = dataset_kind(dataset)
    if kind.confine is not None:  # a folder, sized only where Launch would read it: never outside the roots
        if not folder.strip():
            raise WorkbenchError("no image folder given yet")
        if roots is not None:
            confined(dataset, roots)
        elif not Path(folder).resolve().is_relative_to((Path(store.root) / DATASETS).resolve()):
            raise WorkbenchError("a typed folder is sized at Launch, not on every keystroke")  # "/" would be walked
    runs = math.prod(map(count_values, texts[:bool(sweep) + bool(sweep2)])) * 2 * count_values(values.get("seeds", ""))
    if runs > ESTIMATED_RUNS:  # counted before a 90,000-comparison grid is built on every rerun
        raise WorkbenchError(f"{runs:,} runs: too many to estimate")
    configs = configs_from_values(values, sweep, texts[0], sweep2, texts[1])
    (limits or Limits.unlimited()).check(configs)
    return configs


def launch(store: RunStore, board: JobBoard, owner: str, roots: DataRoots | None = None, limits: Limits | None = None,
           pages: set[str] = (), lesson: ClassLesson = ClassLesson()) -> None:
    """Launch's callback: check (the lesson and the server's limits first, before a sweep's comparisons are even
    built), queue, record the prediction, and show the new comparison (runs before the page redraws)."""
    st.session_state["launch_error"] = None
    values = form_values(roots, store.root, lesson.lesson)
    sweep = st.session_state.get("sweep") if st.session_state.get("mode") == "sweep" and lesson.lesson is None else None
    sweep2 = st.session_state.get("sweep2", NO_GRID) if sweep else NO_GRID
    sweep2 = None if sweep2 == NO_GRID else sweep2
    swept = [sweep_key(p, values["backbone"]) for p in (sweep, sweep2) if p]
    keys = [*values, *FORM_KEYS, *swept]
    label = (f"grid over {option(sweep).label} × {option(sweep2).label}" if sweep2 else
             f"sweep over {option(sweep).label}" if sweep else "comparison")
    try:
        if lesson.lesson is not None:
            lesson.lesson.check_values(values)
        prediction = form_prediction(lesson.prediction_required, st.session_state.get("student_name", ""))
        texts = [st.session_state.get(k, "") for k in swept] + ["", ""]
        if limits is not None:
            limits.check_queued(sum(board.active(page) is not None for page in {owner, *pages}))
            limits.check_request(math.prod(map(count_values, texts[:len(swept)])), values.get("seeds", ""))
        configs = configs_from_values(values, sweep, texts[0], sweep2, texts[1])
        if limits is not None:
            limits.check(configs)
        preflight(configs, roots)
        settings = {k: st.session_state[k] for k in keys if k in st.session_state}
        job = board.launch(Job(configs, store, label=label, worker_process=True, owner=owner, settings=settings,
                               sweep=sweep, sweep2=sweep2, name=st.session_state.get("student_name", "")))
        record_prediction(store.root, prediction, job.comparison_ids[0])
    except WorkbenchError as exc:
        st.session_state["launch_error"] = str(exc)
        return
    follow(job)


def follow(job: Job) -> None:
    """Show this job's comparison now, and the next one of a sweep as it starts, until the person picks another."""
    st.session_state["following"] = job.comparison_ids[0]
    st.session_state["chosen"] = st.session_state[PICKED] = job.comparison_ids[0]


def restore(board: JobBoard, owner: str) -> None:
    """On a page's first run, bring back what its latest job was launched with (a reload keeps the settings)."""
    if st.session_state.get("restored"):
        return
    st.session_state["restored"] = True
    job = board.latest(owner)
    if job is not None:
        st.session_state.update(job.settings)
        if job.active:
            follow(job)
