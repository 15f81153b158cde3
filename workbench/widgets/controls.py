"""Notebook controls drawn from the option spec: one factory per kind of option.

An option added to `workbench.spec.options` appears in the panels with no widget code: its kind picks
the control, its bounds or values set the range, its label and help are what a student reads.
A slider is used only where it can be dragged to every value; longer ranges get a number box.
"""

from __future__ import annotations

import math

import ipywidgets as w

from workbench.spec.options import Option

STYLE = {"description_width": "200px"}
WIDE = {"width": "680px"}  # a 100-step slider gets about 4 px per step
NARROW = {"width": "340px"}  # number boxes
MAX_SLIDER_STEPS = 100


def control(o: Option, value, backbone: str, suggestions: list[str] | None = None) -> w.ValueWidget:
    """The widget for ``o`` holding ``value``; ranges that depend on the backbone follow ``backbone``."""
    common = {"description": o.label, "tooltip": o.help, "style": STYLE}
    return _FACTORIES[o.kind](o, value, backbone, suggestions, common)


def follow_backbone(widget: w.ValueWidget, o: Option, backbone: str) -> None:
    """Give ``widget`` the range ``o`` has for ``backbone`` (freeze depth, smallest image size)."""
    if o.kind != "int":
        return
    if isinstance(widget, w.SelectionSlider):
        choices = _choices(o, widget.value, backbone)
        value = widget.value if widget.value in [v for _, v in choices] else choices[0][1]
        widget.options, widget.value = choices, value
    elif isinstance(widget, (w.IntSlider, w.BoundedIntText)):
        low, high = o.bounds(backbone)
        widget.max = _BIG if high is None else high  # max first: ipywidgets clips the value into range
        widget.min = low or 0


_BIG = 2**31 - 1


def _number(value: float) -> str:
    return f"{value:g}"


def _choices(o: Option, value, backbone: str) -> list[tuple[str, object]]:
    """A picker's (label, value) pairs: the spec's values within range, and ``value`` itself."""
    low, high = o.bounds(backbone)
    values = {v for v in o.values if (low is None or v >= low) and (high is None or v <= high)} | {value}
    return [(_number(v), v) for v in sorted(values)]


def toggles(**kwargs) -> w.ToggleButtons:
    """Toggle buttons with their label on the same line (ipywidgets 8.1 alone puts it on a line of its own)."""
    widget = w.ToggleButtons(**{**kwargs, "style": {**STYLE, "button_width": "120px"}})
    widget.add_class("widget-inline-hbox")
    return widget


def _choice(o, value, backbone, suggestions, common):
    options = o.options_for()
    if len(options) <= 3:
        return toggles(options=options, value=value, **common)
    return w.Dropdown(options=options, value=value, layout=WIDE, **common)


def _int(o, value, backbone, suggestions, common):
    if o.values:
        return w.SelectionSlider(options=_choices(o, value, backbone), value=value, layout=WIDE, **common)
    low, high = o.bounds(backbone)
    if high is not None and high - low <= MAX_SLIDER_STEPS:
        return w.IntSlider(value=value, min=low, max=high, layout=WIDE, **common)
    return w.BoundedIntText(value=value, min=low or 0, max=_BIG if high is None else high, layout=NARROW, **common)


def _logfloat(o, value, backbone, suggestions, common):
    return w.SelectionSlider(options=_choices(o, value, backbone), value=value, layout=WIDE, **common)


def _float(o, value, backbone, suggestions, common):
    low, high = o.bounds(backbone)
    if (high - low) / o.step <= MAX_SLIDER_STEPS:
        decimals = max(0, -math.floor(math.log10(o.step)))
        return w.FloatSlider(value=value, min=low, max=high, step=o.step, readout_format=f".{decimals}f",
                             layout=WIDE, **common)
    return w.BoundedFloatText(value=value, min=low, max=high, step=o.step, layout=NARROW, **common)


def _bool(o, value, backbone, suggestions, common):
    return w.Checkbox(value=value, indent=True, layout=WIDE, **common)


def _text(o, value, backbone, suggestions, common):
    text = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    if suggestions:
        return w.Combobox(value=text, options=suggestions, ensure_option=False, continuous_update=False,
                          layout=WIDE, **common)
    return w.Text(value=text, continuous_update=False, layout=WIDE, **common)


_FACTORIES = {"choice": _choice, "int": _int, "logfloat": _logfloat, "float": _float, "bool": _bool, "text": _text}
