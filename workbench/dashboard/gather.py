"""The "Your images" tab: make a dataset, fill its classes from uploads, the camera or a phone, check it, share it.

Layout only: the datasets live on the run folder's shelf (`workbench.data.gathered`), which re-encodes every image,
keeps each batch as a capture session and decides who may see or change what; this page passes it the page's
``viewer`` id (`owners.dataset_viewer`; None on the teacher's page, who sees and may change every dataset).
"""

from __future__ import annotations

import streamlit as st

from workbench.core.errors import WorkbenchError
from workbench.dashboard.camera import burst_camera
from workbench.dashboard.phone import phone_panel
from workbench.dashboard.text import plain
from workbench.data.decode import FORMATS
from workbench.data.gathered.batches import Added
from workbench.data.gathered.checks import check_gathered
from workbench.data.gathered.dataset import GatheredDataset
from workbench.data.gathered.shelf import MAX_CLASSES, DatasetShelf

UPLOAD_TYPES = ["jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"]
THUMBNAILS = 6  # per class
BURST_FRAMES = 8
NOTICE = "_gather_notice"  # what the last action did, shown once at the top of the tab


def _notice(done: str, refused: list[str] = ()) -> None:
    st.session_state[NOTICE] = (done, list(refused))


def _show_notice() -> None:
    done, refused = st.session_state.pop(NOTICE, ("", []))
    if done:
        st.success(plain(done))
    for line in refused[:8]:
        st.warning(plain(line))
    if len(refused) > 8:
        st.warning(f"{len(refused) - 8} more file(s) skipped")


def _act(action, done: str) -> None:
    """Run a shelf ``action``; its one-line refusal, if any, is what the page says."""
    try:
        result = action()
    except WorkbenchError as exc:
        _notice("", [str(exc)])
        return
    refused, added = getattr(result, "refused", []), getattr(result, "added", None)
    _notice("" if added == 0 and refused else done.format(added=added or 0), refused)  # nothing added: no "added 0"


def owner_label(dataset: GatheredDataset, viewer: str | None) -> str:
    if dataset.owner is None:
        return "the teacher's"
    if viewer is not None and dataset.owner == viewer:
        return "yours" + (", shared with the class" if dataset.shared else "")
    return "shared by a classmate" if viewer is not None else "a student's" + (", shared" if dataset.shared else "")


def new_dataset(shelf: DatasetShelf, viewer: str | None, first: bool) -> None:
    with st.expander("Make a new dataset", expanded=first):
        st.caption(f"A name, and 2 to {MAX_CLASSES} classes (the things your networks will tell apart). Or import "
                   f"zips: one zip of class folders, or one Teachable Machine sample zip per class.")
        name = st.text_input("dataset name", key="new_dataset_name", max_chars=40, placeholder="desk things")
        classes = st.text_input("classes, separated by commas", key="new_dataset_classes",
                                placeholder="cup, pen, phone")
        zips = st.file_uploader("or import zips", type=["zip"], accept_multiple_files=True,
                                key=f"import_zips:{st.session_state.get('_uploads', 0)}")
        if st.button("Make the dataset", key="make_dataset"):
            if zips:
                from workbench.data.gathered.archive import import_zips

                _act(lambda: Added.total(import_zips(shelf, name, [(z.name, z.getvalue()) for z in zips], viewer)[1]),
                     f"made {name!r} from the zip(s): {{added}} images")
            else:
                _act(lambda: shelf.create(name, [c for c in classes.split(",") if c.strip()], viewer),
                     f"made {name!r}: now add images to each class")
            st.session_state["_uploads"] = st.session_state.get("_uploads", 0) + 1
            st.session_state["gather_pick"] = " ".join(name.split())
            st.rerun()


def checks(dataset: GatheredDataset) -> None:
    """Before Launch: images and sessions per class, what stops it training, and near-copies."""
    readiness = check_gathered(dataset.folder)
    rows = [{"class": c, "images": readiness.counts[c], "capture sessions": readiness.sessions[c]}
            for c in sorted(readiness.counts)]
    st.dataframe(rows, hide_index=True, width="content")
    for line in readiness.problems:
        st.warning(plain(line))
    if readiness.ready:
        st.success("Ready to train: pick it in the sidebar's dataset list. Each capture session stays in one split, "
                   "so the test images come from sessions the networks never trained on.")
    if readiness.near_copies:
        with st.expander(f"{len(readiness.near_copies)} near-copies found (look before you train)"):
            st.caption("The same picture under two class names confuses both networks; near-copies across splits "
                       "make the test easier than the world is. Delete one of each pair if it is a mistake.")
            for copy in readiness.near_copies[:12]:
                left, right, text = st.columns([1, 1, 3])
                left.image(str(dataset.folder / copy.first), width=80)
                right.image(str(dataset.folder / copy.second), width=80)
                text.caption(plain(copy.line()))


def add_images(shelf: DatasetShelf, dataset: GatheredDataset, viewer: str | None, camera_allowed: bool,
               phone_link: str | None) -> None:
    target = st.selectbox("add images to class", dataset.classes(), key=f"target:{dataset.name}")
    # Keyed, so that the tab a student is in stays open through the reruns a burst or an upload makes; only the open
    # one runs (the camera is on only while its tab is open).
    upload, camera, phone = st.tabs(["Upload", "Camera", "Phone"], key="gather_way", on_change="rerun")
    if upload.open is not False:
        with upload:
            upload_files(shelf, dataset, target, viewer)
    if camera.open:
        with camera:
            record_bursts(shelf, dataset, target, viewer, camera_allowed)
    if phone.open:
        with phone:
            phone_panel(shelf, dataset, target, viewer, phone_link)


def upload_files(shelf: DatasetShelf, dataset: GatheredDataset, target: str, viewer: str | None) -> None:
    files = st.file_uploader(f"images ({', '.join(FORMATS)}); one upload is one capture session",
                             type=UPLOAD_TYPES, accept_multiple_files=True,
                             key=f"upload:{dataset.name}:{st.session_state.get('_uploads', 0)}")
    if st.button(f"Add {len(files or [])} image(s) to {plain(target)}", key="add_upload", disabled=not files):
        _act(lambda: shelf.add_images(dataset.name, target, [(f.name, f.getvalue()) for f in files], viewer),
             f"added {{added}} image(s) to {target!r} as one session")
        st.session_state["_uploads"] = st.session_state.get("_uploads", 0) + 1
        st.rerun()


def record_bursts(shelf: DatasetShelf, dataset: GatheredDataset, target: str, viewer: str | None,
                  camera_allowed: bool) -> None:
    if not camera_allowed:
        st.info("The camera is off on this address: browsers allow it only on https:// or localhost. Ask your "
                "teacher to start the dashboard with `--https`, or upload photos instead.")
        return
    st.caption(f"Each burst records {BURST_FRAMES} frames at 4 a second into {plain(target)}: move the object a "
               f"little between bursts, and record three bursts or more per class.")
    try:
        frames = burst_camera(f"burst:{dataset.name}", BURST_FRAMES)
    except WorkbenchError as exc:
        st.warning(plain(exc))
        return
    if frames:
        _act(lambda: shelf.add_images(dataset.name, target, [(f"frame{k}.jpg", f) for k, f in enumerate(frames, 1)],
                                      viewer, kind="burst"),
             f"recorded {{added}} frame(s) into {target!r} as one session")
        st.rerun()


def manage(shelf: DatasetShelf, dataset: GatheredDataset, viewer: str | None) -> None:
    with st.expander("Classes, sharing, deleting"):
        left, right = st.columns(2)
        old = left.selectbox("class", dataset.classes(), key=f"manage_class:{dataset.name}")
        new = right.text_input("new name", key=f"rename:{dataset.name}", max_chars=40)
        a, b, c = st.columns(3)
        if a.button("Rename", key="rename_class", disabled=not new.strip()):
            _act(lambda: shelf.rename_class(dataset.name, old, new, viewer), f"renamed {old!r} to {new.strip()!r}")
            st.rerun()
        if b.button("Add as a new class", key="add_class", disabled=not new.strip()):
            _act(lambda: shelf.add_class(dataset.name, new, viewer), f"added the class {new.strip()!r}")
            st.rerun()
        if c.button(f"Remove {plain(old)} and its images", key="remove_class"):
            _act(lambda: shelf.remove_class(dataset.name, old, viewer), f"removed the class {old!r}")
            st.rerun()
        shared = st.toggle("share with the class (others may train on it, not change it)", value=dataset.shared,
                           key=f"share:{dataset.name}")
        if shared != dataset.shared:
            _act(lambda: shelf.share(dataset.name, shared, viewer), "shared with the class" if shared else "unshared")
            st.rerun()
        if st.checkbox(f"I want to delete {plain(dataset.name)} and its {dataset.count()} images", key="confirm_delete"):
            if st.button("Delete the dataset", key="delete_dataset"):
                _act(lambda: shelf.delete(dataset.name, viewer), f"deleted {dataset.name!r}")
                st.session_state.pop("confirm_delete", None)
                st.rerun()


def thumbnails(shelf: DatasetShelf, dataset: GatheredDataset, viewer: str | None, mine: bool) -> None:
    for class_name in dataset.classes():
        images = dataset.images(class_name)
        st.markdown(f"**{plain(class_name)}** · {len(images)} image(s) in {len(dataset.sessions(class_name))} "
                    f"session(s)" + (" · the newest shown" if len(images) > THUMBNAILS else ""))
        newest = sorted(images, key=lambda p: p.stat().st_mtime_ns)[-THUMBNAILS:]
        columns = st.columns(THUMBNAILS)
        for column, path in zip(columns, newest):
            column.image(str(path), width="stretch")
            if mine and column.button("delete", key=f"delete:{class_name}/{path.name}", help="delete this image"):
                _act(lambda path=path: shelf.delete_image(dataset.name, class_name, path.name, viewer),
                     f"deleted an image of {class_name!r}")
                st.rerun()


def gather_tab(shelf: DatasetShelf, viewer: str | None, camera_allowed: bool, phone_link: str | None) -> None:
    """The whole tab: ``viewer`` None on the teacher's page; ``camera_allowed``: https or localhost.

    The notice and the checks come and go with each burst or upload; each sits in its own container, so that what
    follows keeps its place in the page: an element that moves is drawn afresh (the camera reopens, losing a burst it
    was recording; an opened expander closes under the student's click)."""
    with st.container():
        _show_notice()
    datasets = shelf.list(viewer)
    new_dataset(shelf, viewer, first=not datasets)
    if not datasets:
        return
    names = [d.name for d in datasets]
    if st.session_state.get("gather_pick") not in names:
        st.session_state["gather_pick"] = names[0]
    picked = st.selectbox("dataset", names, key="gather_pick",
                          format_func=lambda n: f"{n} · {owner_label(datasets[names.index(n)], viewer)}")
    dataset = datasets[names.index(picked)]
    mine = viewer is None or dataset.owner == viewer
    with st.container():
        checks(dataset)
    if mine:
        add_images(shelf, dataset, viewer, camera_allowed, phone_link)
        manage(shelf, dataset, viewer)
    else:
        st.caption("Shared by a classmate: train on it from the sidebar; only its owner adds or deletes images.")
    thumbnails(shelf, dataset, viewer, mine)
