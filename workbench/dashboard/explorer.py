"""The dashboard's "Backbones" tab: layout only; the numbers come from `workbench.explorer.measure`.

Counting FLOPs takes a few seconds the first time, so nothing runs until the toggle is on; measuring
takes seconds per backbone, so it waits for the button.
Measurements are cached by the engine for the server's life, so a rerun or another page shows
them without measuring again.
"""

from __future__ import annotations

import streamlit as st

from workbench.core.errors import WorkbenchError
from workbench.explorer.measure import explorer_rows, measure_backbones
from workbench.explorer.plots import backbone_chart, notes, table_cells, x_axis_choices
from workbench.spec.options import IMAGE_SIZES, option


def _measure(size: int, count: int) -> None:
    bar = st.progress(0.0, text=f"measuring {count} backbones at {size} px...")
    for done, result in enumerate(measure_backbones(size), start=1):
        bar.progress(done / count, text=f"measured {result['name']}: {result['latency_ms']:.1f} ms/img, "
                                        f"{result['train_img_s']:.1f} training img/s")
    bar.empty()


def explorer_tab() -> None:
    """Every backbone side by side; the button adds latency and training speed measured on this machine."""
    st.caption("Is the pre-trained model small and fast enough for the device it must run on? Size, cost and "
               "published accuracy need no weights; speed is measured here, with random weights (timing does not "
               "depend on their values).")
    if not st.toggle("show the backbones side by side", key="explorer-on"):
        return
    size_column, axis_column, button_column = st.columns([1, 2, 1])
    size = size_column.selectbox("image size (px)", IMAGE_SIZES, index=IMAGE_SIZES.index(option("image_size").default),
                                 key="explorer-size")
    axes = dict(x_axis_choices())
    x = axes[axis_column.selectbox("top-1 against", list(axes), key="explorer-x")]
    try:
        rows = explorer_rows(size)
        if button_column.button("Measure on this machine", type="primary", key="explorer-measure",
                                help="time inference and training of each backbone at this size"):
            _measure(size, len(rows))
            rows = explorer_rows(size)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.plotly_chart(backbone_chart(rows, x=x), key="explorer-chart")
    header, cells = table_cells(rows)
    st.dataframe([dict(zip(header, line)) for line in cells], hide_index=True,
                 height=35 * (len(cells) + 1) + 3)  # every backbone in view: no scroll bar inside the table
    for line in notes(rows):
        st.caption(line)
