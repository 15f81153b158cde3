"""A lesson on the dashboard: its instructions above the settings, its chart on the class board, and the teacher's
picker. The lesson itself (what may change, what is fixed, what is drawn) is `workbench.spec.lessons`; the class's
current one lives in the run folder (`ClassLesson`), so the teacher's page changes it for every class page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from workbench.core.errors import ConfigError
from workbench.dashboard.text import plain
from workbench.dashboard.views import grid_heatmaps
from workbench.experiments.comparisons import Comparison
from workbench.experiments.grouping import grid_groups, sweep_groups
from workbench.present import plots
from workbench.present.report import settings_text
from workbench.spec.lesson_files import ClassLesson, parse_lesson, read_lesson, shipped_lessons
from workbench.spec.lessons import Lesson
from workbench.spec.options import option

NO_LESSON = "no lesson: every setting"
UPLOADED = "a lesson file of yours"


def lesson_header(lesson: Lesson, started: bool) -> None:
    """At the top of the sidebar: the lesson's title and question, its instructions open until the first Launch."""
    bar = st.sidebar
    bar.markdown(f"**Lesson: {plain(lesson.title)}**")
    with bar.expander("what to do", expanded=not started):
        st.markdown(lesson.instructions)  # the teacher's Markdown, from the teacher's file
        st.markdown(f"**Predict:** {plain(lesson.question)}")


def fixed_note(lesson: Lesson) -> None:
    """Under the settings students may change: the rest, as the lesson fixes them."""
    shown = [f"{option(name).label} {option(name).show(value)}" for name, value in lesson.fixed_values().items()
             if name in lesson.fixed]
    st.sidebar.caption("fixed by the lesson: " + plain(" · ".join(shown)) if shown else
                       "every other setting at its default")


def lesson_picker(root: Path) -> None:
    """The teacher's page: which lesson the class has, and whether Launch needs a prediction first."""
    current = ClassLesson.read(root)
    shipped = {name: read_lesson(path) for name, path in shipped_lessons().items()}  # each file read once a rerun
    titles = {name: lesson.title for name, lesson in shipped.items()}
    choices = [NO_LESSON, *shipped, UPLOADED]
    now = next((n for n, lesson in shipped.items() if current.lesson and lesson.text == current.lesson.text),
               UPLOADED if current.lesson else NO_LESSON)
    with st.expander(f"the class's lesson: {plain(current.lesson.title) if current.lesson else 'none'}",
                     expanded=current.lesson is None):
        picked = st.selectbox("lesson", choices, index=choices.index(now), key="lesson_pick",
                              format_func=lambda n: titles.get(n, n))
        lesson = current.lesson if picked == UPLOADED and now == UPLOADED else None
        if picked == UPLOADED:
            upload = st.file_uploader("lesson file (.toml)", type=["toml"], key="lesson_file")
            if upload is not None:
                try:
                    lesson = parse_lesson(upload.getvalue().decode("utf-8", errors="replace"))
                except ConfigError as exc:
                    st.error(f"{plain(upload.name)}: {plain(exc)}")
        elif picked != NO_LESSON:
            lesson = shipped[picked]
        require = st.checkbox("a prediction before every Launch", value=current.require_prediction,
                              key="lesson_require", help="a lesson may require one itself")
        if lesson is not None and lesson.teacher_note:
            st.caption(f"teacher's note: {plain(lesson.teacher_note)}")
        chosen = ClassLesson(lesson, require)
        if (picked, require) != (now, current.require_prediction) or (lesson and lesson != current.lesson):
            if st.button("apply to the class", type="primary", key="lesson_apply",
                         disabled=picked == UPLOADED and lesson is None):
                chosen.write(root)
                st.rerun()


def lesson_chart(lesson: Lesson, finished: list[Comparison], metric: str) -> int:
    """The lesson's chart over the class's finished comparisons run under it: a line over its setting (one per
    combination of the other free settings) or a heatmap over two. Returns how many charts were drawn."""
    members = [c for c in finished if lesson.belongs(c.config)]
    st.subheader(f"the lesson: {plain(lesson.title)}")
    if lesson.chart == "heatmap":
        pair = set(lesson.over)
        groups = [g for g in grid_groups(members, pool=True) if {g.parameter, g.parameter2} == pair]
        drawn = grid_heatmaps(groups, metric, "lesson")
    else:
        drawn = 0
        for index, group in enumerate(sweep_groups(members, lesson.over[0], pool=True)):
            drawn += 1
            others = {k: v for k, v in group.fixed.items() if k in lesson.free}
            st.caption(f"{sum(p['comparisons'] for p in group.points)} comparisons of the class"
                       + (f", with {plain(settings_text(others))}" if others else ""))
            st.plotly_chart(plots.sweep_curve(group.points, lesson.over[0], metric), key=f"lesson-{index}")
    if not drawn:
        st.info(f"{len(members)} finished comparison(s) of this lesson so far: the class's chart appears once "
                f"two values of {option(lesson.over[0]).label} have results")
    return drawn
