"""The dashboard's "Inside the networks" tab: layout only; the views come from `workbench.inside`.

The views take seconds to compute, so nothing runs until the toggle is switched on, and each
comparison's networks and view results are cached for the server's lifetime. Their modules
(scikit-learn, grad-cam) are imported then too, not when the page first loads.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping

import streamlit as st

from workbench.core.errors import WorkbenchError
from workbench.dashboard.text import plain
from workbench.experiments.comparisons import Comparison
from workbench.inside import VIEW_NAMES
from workbench.inside.networks import ROLES, Networks, load_networks
from workbench.present import plots
from workbench.store.runs import RunStore

ANY = "any"
PHOTO_KEY = "inside-photo-view"  # (comparison id:upload hash, view, refusal) of the latest photo
PHOTO_SUFFIXES = ["jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"]  # the browser's filter only: the
# content is what is checked (`workbench.data.decode`)


@st.cache_resource(max_entries=2, show_spinner="loading both networks...")
def _networks(root: str, comparison_id: str) -> Networks:
    return load_networks(RunStore(root), comparison_id)


@st.cache_resource(max_entries=12, show_spinner="computing...")
def _result(root: str, comparison_id: str, view: str):
    from workbench.inside.views import VIEWS

    return VIEWS[view].compute(_networks(root, comparison_id))


def _show(figures: list, key: str) -> None:
    for index, figure in enumerate(figures):
        st.plotly_chart(figure, key=f"{key}-{index}")


def _mistakes(root: str, networks: Networks) -> None:
    from workbench.inside.views import cell_gallery

    predictions = _result(root, networks.comparison_id, "mistakes")
    classes = networks.classes
    chart, picks = st.columns([3, 2])  # the matrix beside what picks its cell; the gallery below, full width
    role = picks.radio("network", ROLES, horizontal=True, key="inside-mistakes-role")
    true = picks.selectbox("true class", [ANY, *classes], key="inside-true")
    predicted = picks.selectbox("predicted as", [ANY, *classes], key="inside-predicted")
    picks.caption("pick a cell of the confusion matrix; 'any' and 'any' shows every mistake")
    chart.plotly_chart(plots.confusion_heatmap(predictions[role].confusion(len(classes)), classes, role),
                       key="inside-confusion")
    st.plotly_chart(cell_gallery(networks, predictions[role], role, None if true == ANY else classes.index(true),
                                 None if predicted == ANY else classes.index(predicted)), key="inside-cell")


def _photo(networks: Networks) -> None:
    from workbench.inside.views import VIEWS

    camera, upload = st.columns(2)
    shot = camera.camera_input("take a photo", key="inside-camera")
    uploaded = upload.file_uploader("or upload an image", key="inside-upload", type=PHOTO_SUFFIXES)
    chosen = shot or uploaded
    if chosen is None:
        st.caption("both networks' top classes, and where each looked, appear here")
        return
    result, error = kept_photo(st.session_state, networks, chosen.getvalue(), chosen.name)
    if error:
        st.error(plain(error))  # it names the file as the browser sent it
        return
    _show(VIEWS["photo"].draw(networks, result), "inside-photo")


def kept_photo(state: MutableMapping, networks: Networks, data: bytes, name: str) -> tuple[object, str | None]:
    """The photo view (or its one-line refusal) for these bytes, decoded and computed once and kept in the
    page's ``state`` under the upload's hash: any click reruns the page, and must not decode it again."""
    from workbench.inside.views import VIEWS

    key = f"{networks.comparison_id}:{hashlib.sha256(data).hexdigest()}"
    kept = state.get(PHOTO_KEY)
    if kept is None or kept[0] != key:  # only the latest photo is kept
        try:
            kept = (key, VIEWS["photo"].compute(networks, data=data, name=name), None)
        except WorkbenchError as exc:
            kept = (key, None, str(exc))
        state[PHOTO_KEY] = kept
    return kept[1], kept[2]


def inside_tab(store: RunStore, comparison: Comparison | None) -> None:
    """What moved, first-layer filters, feature space, Grad-CAM, mistakes and your photo, for one comparison."""
    if comparison is None or not comparison.transfer or not comparison.scratch:
        st.info("choose a finished comparison under 'Transfer vs scratch' to look inside its networks")
        return
    comparison_id, root = comparison.comparison_id, str(store.root)
    if not st.toggle("look inside the networks (takes a few seconds)", key=f"inside-{comparison_id}"):
        return
    from workbench.inside.views import VIEWS

    try:
        networks = _networks(root, comparison_id)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    tabs = dict(zip(VIEW_NAMES, st.tabs([VIEWS[name].title for name in VIEW_NAMES])))
    for name in ("movement", "filters", "features", "gradcam"):
        with tabs[name]:
            result = _result(root, comparison_id, name)
            st.code("\n".join(VIEWS[name].describe(result)), language=None)  # a fixed-width table: its columns align
            _show(VIEWS[name].draw(networks, result), f"inside-{name}")
    with tabs["mistakes"]:
        _mistakes(root, networks)
    with tabs["photo"]:
        _photo(networks)
