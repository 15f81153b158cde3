"""The "Play" tab: the camera (or an uploaded image) through both trained networks, side by side, live.

Layout only: `workbench.inside.play` loads the two trained networks and predicts; the bars are
`workbench.present.plots.both_predictions`. The camera sends a frame, the page answers it, and only then does the
camera send the next (`camera.play_camera`), so the frame rate is what this machine can do, never a queue. When the
comparison trained on a dataset this page owns, a frame the networks get wrong can be added to a class as a new
capture session, and the page offers to train again.
"""

from __future__ import annotations

import time

import streamlit as st

from workbench.core.errors import WorkbenchError
from workbench.dashboard.camera import PLAY_KEY, play_camera, sent_frame
from workbench.dashboard.text import plain
from workbench.data.gathered.shelf import DatasetShelf
from workbench.experiments.comparisons import Comparison
from workbench.inside.play import PlayNetworks, play_networks
from workbench.present import plots
from workbench.store.runs import RunStore

ADDED = "_play_added"  # what the last "Add the frame" did
LAST = "_play_last"  # (frame number, JPEG bytes, predictions, seconds it took)


@st.cache_resource(max_entries=4, show_spinner="loading both trained networks...")
def _networks(root: str, comparison_id: str) -> PlayNetworks:
    return play_networks(RunStore(root), comparison_id)


def _own_dataset(networks: PlayNetworks, shelf: DatasetShelf, viewer: str | None) -> str | None:
    """The gathered dataset the networks trained on, if this page may add to it (its owner, or the teacher)."""
    found = shelf.holding(networks.dataset, viewer)
    return found.name if found is not None and (viewer is None or found.owner == viewer) else None


def _add_frame(shelf: DatasetShelf, dataset: str, classes: list[str], frame: bytes, viewer: str | None) -> None:
    """"Wrong? Add this frame": the frame into a class as a session of its own. What it did stays on screen (the
    fragment reruns with every frame)."""
    left, middle = st.columns([2, 1])
    target = left.selectbox("Wrong? Add this frame to class", classes, key="play_target")
    if middle.button("Add the frame", key="play_add"):
        try:
            added = shelf.add_images(dataset, target, [("frame.jpg", frame)], viewer, kind="play")
            st.session_state[ADDED] = ("warning", added.refused[0]) if added.refused else (
                "success", f"added to {target} as a new session: Launch again (sidebar) to train on it; both "
                           f"networks start over, on the dataset as it is now")
        except WorkbenchError as exc:
            st.session_state[ADDED] = ("error", str(exc))
    if ADDED in st.session_state:
        kind, text = st.session_state[ADDED]
        getattr(st, kind)(plain(text))


def play_tab(store: RunStore, comparison: Comparison | None, shelf: DatasetShelf, viewer: str | None,
             camera_allowed: bool) -> None:
    if comparison is None or any(r.status != "completed" for r in comparison.transfer + comparison.scratch):
        st.info("Play needs a finished comparison: launch one (on your own images, from the Your images tab), "
                "or pick one in the Transfer vs scratch tab.")
        return
    try:
        networks = _networks(str(store.root), comparison.comparison_id)
    except WorkbenchError as exc:
        st.info(plain(exc))
        return
    st.caption(f"Both networks of this comparison look at the same frame, at {networks.config.image_size} px: "
               f"the one fine-tuned from ImageNet (blue) and the one trained from scratch (orange).")
    look(networks, shelf, viewer, camera_allowed)


@st.fragment
def look(networks: PlayNetworks, shelf: DatasetShelf, viewer: str | None, camera_allowed: bool) -> None:
    """What both networks look at, the camera or an image, and the choice between them: one fragment, so that a
    camera frame and a change of source rerun the same part of the page (a click on "an image" made while frames
    kept rerunning only the camera's part was lost: the uploader never came)."""
    source = st.radio("look at", ["the camera", "an image"], horizontal=True, key="play_source",
                      disabled=not camera_allowed)
    if not camera_allowed:
        st.caption("The camera needs https:// or localhost (the teacher can start the dashboard with --https).")
    if source == "the camera" and camera_allowed:
        live(networks, shelf, viewer)
        return
    image = st.file_uploader("an image", type=["jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"],
                             key="play_upload")
    if image is not None:
        try:
            top = networks.predict(image.getvalue(), name=image.name)
        except WorkbenchError as exc:
            st.error(plain(exc))
            return
        left, right = st.columns([1, 3])
        left.image(image.getvalue(), width=160)
        right.plotly_chart(plots.both_predictions(top, len(networks.classes)), key="play-upload-bars")


def live(networks: PlayNetworks, shelf: DatasetShelf, viewer: str | None) -> None:
    """The camera's frames answered one by one: a frame reruns `look` only."""
    frame = sent_frame(PLAY_KEY)
    last, problem = st.session_state.get(LAST), None
    if frame is not None and (last is None or frame[0] != last[0]):
        number, data = frame
        started = time.perf_counter()
        try:
            last = (number, data, networks.predict(data), time.perf_counter() - started)
        except WorkbenchError as exc:
            last, problem = (number, None, None, 0.0), plain(exc)
        st.session_state[LAST] = last
    camera, bars = st.columns([1, 2])  # the camera first, always: one that moves is mounted afresh and reopens
    with camera:
        play_camera(PLAY_KEY, answered=last[0] if last else 0)
    if last is None or last[2] is None:
        bars.caption(problem or "waiting for the camera's first frame…")
        return
    bars.plotly_chart(plots.both_predictions(last[2], len(networks.classes)), key="play-bars")
    bars.caption(f"frame {last[0]} · both networks answered in {1000 * last[3]:.0f} ms")
    dataset = _own_dataset(networks, shelf, viewer)
    if dataset is not None and last[1] is not None:
        _add_frame(shelf, dataset, networks.classes, last[1], viewer)
