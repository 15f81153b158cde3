"""One control per option, one renderer per kind (the sidebar lays them out): a choice, a number in its range,
a rate on its log scale, a flag, text; and, under a lesson, only the values it allows.

Every control is keyed by its option's name, so what the page holds is ``st.session_state[name]``.
"""

from __future__ import annotations

import streamlit as st

from workbench.models.weights.status import weights_status
from workbench.spec.lessons import Free
from workbench.spec.options import Option

CLAMPED = "clamped"  # {option name: (value asked, value kept, backbone)}: a note under the control while it holds


def _clamp(key: str, allowed: list, backbone: str) -> None:
    """Keep a remembered value when its range changed (a backbone with more or fewer stages), or the nearest valid
    one, and note that. The value is set again even when it stays: Streamlit makes a new widget when a slider's
    range changes, and a new widget starts from its lowest value (a freeze depth of 3 became 0) unless told."""
    value = st.session_state[key]
    kept = value if value in allowed else min(allowed, key=lambda a: abs(a - value))
    st.session_state[key] = kept
    if kept != value:
        st.session_state.setdefault(CLAMPED, {})[key] = (value, kept, backbone)


def _clamp_note(o: Option, backbone: str, allowed: list, where) -> None:
    """Under a control whose value was moved into range: what was asked, what is kept, and why."""
    notes = st.session_state.get(CLAMPED, {})
    asked, kept, since = notes.get(o.name, (None, None, None))
    if since == backbone and kept == st.session_state[o.name]:
        where.caption(f"{backbone} takes {o.label} {allowed[0]} to {allowed[-1]}: {asked} became {kept}, the nearest")
    else:
        notes.pop(o.name, None)  # moved since, or another backbone: the note is history


def _number(o: Option, low, high, where, backbone: str):
    if o.kind == "int" and o.values:
        allowed = [v for v in o.values if (low is None or v >= low) and (high is None or v <= high)]
        _clamp(o.name, allowed, backbone)
        widget = where.select_slider(o.label, allowed, key=o.name, help=o.help)
        _clamp_note(o, backbone, allowed, where)
        return widget
    if o.kind == "int" and high is not None and high - low <= 12:
        _clamp(o.name, list(range(low, high + 1)), backbone)
        widget = where.slider(o.label, low, high, key=o.name, help=o.help)
        _clamp_note(o, backbone, list(range(low, high + 1)), where)
        return widget
    if o.kind == "int":
        return where.number_input(o.label, low, high, step=1, key=o.name, help=o.help)
    decimals = max(0, -int(f"{o.step:e}".split("e")[1]))
    return where.number_input(o.label, float(low), float(high), step=o.step, format=f"%.{decimals}f", key=o.name,
                              help=o.help)


def control(o: Option, backbone: str, where):
    """The widget for one option, by its kind; its value also lands in ``st.session_state[o.name]``."""
    st.session_state.setdefault(o.name, o.default)
    if o.kind == "choice":
        choices = o.options_for()
        if len(choices) <= 3:
            return where.radio(o.label, choices, key=o.name, help=o.help, horizontal=True)
        if o.name == "backbone":  # which ones train offline, in the list itself
            return where.selectbox(o.label, choices, key=o.name, help=o.help,
                                   format_func=lambda name: f"{name} · "
                                   + ("offline" if weights_status(name)[0] else "download"))
        return where.selectbox(o.label, choices, key=o.name, help=o.help)
    if o.kind in ("int", "float"):
        return _number(o, *o.bounds(backbone), where, backbone)
    if o.kind == "logfloat":
        return where.select_slider(o.label, list(o.values), key=o.name, help=o.help, format_func=o.show)
    if o.kind == "bool":
        return where.checkbox(o.label, key=o.name, help=o.help)
    return where.text_input(o.label, key=o.name, help=o.help)


def lesson_control(o: Option, free: Free, where):
    """A setting a lesson lets students change: only to the values (or within the range) it allows."""
    value = st.session_state.setdefault(o.name, o.default)
    if free.values:
        allowed = list(free.values)
    elif o.kind == "logfloat":
        allowed = [v for v in o.values if free.low <= v <= free.high] or [free.low, free.high]
    else:
        allowed = None
    if allowed is not None:
        if not free.allows(value) or value not in allowed:
            st.session_state[o.name] = next((a for a in allowed if free.allows(value) and a == value), allowed[0])
        if len(allowed) <= 3:
            return where.radio(o.label, allowed, key=o.name, help=o.help, horizontal=True, format_func=o.show)
        return where.select_slider(o.label, allowed, key=o.name, help=o.help, format_func=o.show)
    if not free.allows(value):
        st.session_state[o.name] = free.low
    if o.kind == "int":
        return where.slider(o.label, int(free.low), int(free.high), key=o.name, help=o.help)
    return where.number_input(o.label, float(free.low), float(free.high), step=o.step, key=o.name, help=o.help)
