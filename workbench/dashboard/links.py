"""An experiment as a link, on a page: open one, copy one, and run a recorded comparison again.

A link's settings (`workbench.spec.links`) fill the sidebar of a fresh page of one's own; nothing runs until Launch.
Each value is checked as if typed, a refused one says why in one line, and the settings then leave the address,
so that a reload does not bring them back over later changes. A link never says whose page, nor which: the
page's ``session`` is never written into one, and a page opened from one gets an id of its own (`app.page_owner`).
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from workbench.dashboard.text import plain
from workbench.data.gathered.shelf import DatasetShelf
from workbench.data.loading import suggested_datasets
from workbench.data.roots import DATASETS
from workbench.spec.config import ComparisonConfig
from workbench.spec.links import comparison_values, linked, settings_from_query, settings_query
from workbench.spec.options import option

FOLDER = "your image folder"  # the dataset picker's choice for a typed path (``dataset_folder``)
GATHERED = "gathered:"  # a dataset of the Your images tab, by name (its folder is the run folder's to say)
IMAGEFOLDER = "imagefolder:"
NOTES = "link_notes"  # what opening the link applied and refused: shown until the page's first Launch


def settings_in_address() -> bool:
    """Whether this page was opened with settings in its address (and has not taken them yet)."""
    names = {o.name for o in linked()}
    return any(name in names for name in st.query_params)


def open_link(shelf: DatasetShelf, viewer: str | None, launched: bool) -> None:
    """Settings in the address into the sidebar's controls (keyed by option name), then out of the address; and
    what was applied and refused, one line each, until this page launches something."""
    if settings_in_address():
        names = [name for name in st.query_params if name != "session"]  # the page's id: never a setting
        current = {o.name: st.session_state.get(o.name, o.default) for o in linked()}
        values, problems = settings_from_query({name: st.query_params[name] for name in names}, current)
        problems += _into_sidebar(values, shelf, viewer, current)
        for name in names:
            del st.query_params[name]
        changed = [f"{option(name).label} {option(name).show(value)}" for name, value in values.items()
                   if option(name).show(value) != option(name).show(current[name])]
        opened = (f"opened with the link's settings: {' · '.join(changed)}" if changed else
                  "the link's settings are this page's already" if values else "")
        st.session_state[NOTES] = (opened and opened + "; nothing runs until Launch", problems)
    if launched:
        st.session_state.pop(NOTES, None)
    opened, problems = st.session_state.get(NOTES, ("", []))
    if opened:
        st.info(plain(opened))
    if problems:  # one box, a line each
        st.warning("  \n".join(map(plain, problems)))


def _into_sidebar(values: dict, shelf: DatasetShelf, viewer: str | None, current: dict) -> list[str]:
    """Each control's value as the sidebar holds it (seeds as text, a dataset as the picker's choice, a rate on its
    slider); a value that does not fit is taken out of ``values``, or moved, and comes back as a line."""
    problems = []
    for name, value in list(values.items()):
        o = option(name)
        if name == "dataset":
            problem = _dataset(value, shelf, viewer, o.show(current[name]))
            if problem:
                problems.append(problem)
                del values[name]
        elif o.kind == "logfloat" and value not in o.values:
            nearest = min(o.values, key=lambda v: abs(math.log(v / value)))
            problems.append(f"the link's {name} {o.show(value)} is not on this page's slider; took "
                            f"{o.show(nearest)}, the nearest")
            st.session_state[name] = values[name] = nearest
        else:
            st.session_state[name] = o.show(value) if name == "seeds" else value
    return problems


def _dataset(value: str, shelf: DatasetShelf, viewer: str | None, kept: str) -> str | None:
    """A built-in name into the picker; a path into "your image folder"; a gathered dataset by name if this page
    sees it. Whether the page may read the folder is Launch's check, as for a typed one: a link grants nothing."""
    if value.startswith(IMAGEFOLDER):
        st.session_state["dataset"], st.session_state["dataset_folder"] = FOLDER, value.removeprefix(IMAGEFOLDER)
        return None
    if value in suggested_datasets() or value in {GATHERED + d.name for d in shelf.list(viewer)}:
        st.session_state["dataset"] = value
        return None
    return f"the link's dataset {value}: not one this page offers; kept {kept}"


def link_values() -> dict:
    """What the sidebar holds, as a link's values: an image folder by its path as typed, a gathered one by name."""
    values = {o.name: st.session_state[o.name] for o in linked() if o.name in st.session_state}
    if values.get("dataset") == FOLDER:
        values["dataset"] = IMAGEFOLDER + st.session_state.get("dataset_folder", "").strip()
    return values


def page_address(query: str) -> str:
    """This server's page with ``query`` as its address (no ``session``: whoever opens it gets a page of their own)."""
    parts = urlsplit(st.context.url or "")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, "")) if parts.netloc else f"./?{query}"


def settings_link(where) -> None:
    """"Copy a link to these settings": the sidebar's values as an address (the code block has a copy button)."""
    with where.expander("copy a link to these settings"):
        st.code(page_address(settings_query(link_values())), language=None)  # one line: its copy button takes it
        st.caption("opens a page of its own with these settings in its sidebar; nothing runs until Launch")


def again_link(config: ComparisonConfig, runs_root: Path, where) -> None:
    """A recorded comparison's settings as a link: "run this again" opens them in a new page of one's own."""
    values = comparison_values(config)
    folder = Path(values["dataset"].removeprefix(IMAGEFOLDER))
    if values["dataset"].startswith(IMAGEFOLDER) and folder.parent == (Path(runs_root) / DATASETS).resolve():
        values["dataset"] = GATHERED + folder.name  # a gathered dataset by its name, as its picker names it
    where.link_button("run this again", f"./?{settings_query(values)}",
                      help="opens a new page of your own with this comparison's settings; nothing runs until Launch")
