"""The class's own images (issue 21): the shelf of gathered datasets, honest splits, zips in and out, `workbench data`.

Images here are small real photos (scikit-image's) cut into pieces, so that near-copies are near in the way a
camera's frames are (the same picture, a little brighter) and different pieces are different pictures.
"""

import io
import json
import os
import stat
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from workbench.cli.main import main
from workbench.core.errors import DataError
from workbench.data.gathered import batches
from workbench.data.gathered.archive import export_zip, import_zips, read_zip
from workbench.data.gathered.checks import check_gathered
from workbench.data.gathered.manifest import session_of
from workbench.data.gathered.shelf import DatasetShelf, Quotas
from workbench.data.kinds.folders import image_folder_source
from workbench.data.loading import dataset_identity
from workbench.data.roots import DataRoots
from workbench.data.splits import make_splits

PHOTO = photos.astronaut()  # 512x512 RGB


def picture(index: int, brighter: int = 0, size: int = 96, kind: str = "PNG") -> bytes:
    """Piece ``index`` of a real photo (different pieces: different pictures), optionally a little brighter."""
    row, col = divmod(index % 16, 4)
    piece = PHOTO[row * 128:(row + 1) * 128, col * 128:(col + 1) * 128].astype(int) + brighter
    out = io.BytesIO()
    Image.fromarray(piece.clip(0, 255).astype(np.uint8)).resize((size, size)).save(out, format=kind)
    return out.getvalue()


def burst(first: int, frames: int = 3) -> list[tuple[str, bytes]]:
    """A camera burst: the same picture, frame after frame, a little brighter each time."""
    return [(f"frame{k}.png", picture(first, brighter=2 * k)) for k in range(frames)]


@pytest.fixture
def shelf(tmp_path) -> DatasetShelf:
    return DatasetShelf(tmp_path / "runs")


def three_sessions_each(shelf: DatasetShelf, name: str = "mine", owner: str | None = None) -> None:
    shelf.create(name, ["cup", "pen"], owner)
    for class_name, first in (("cup", 0), ("pen", 8)):
        for k in range(3):
            shelf.add_images(name, class_name, burst(first + k), owner, kind="burst")


# --- splits ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_a_session_never_straddles_splits_and_each_split_gets_one(seed):
    labels = np.repeat([0, 1], 12)
    groups = np.array([f"{label}-{k // 4}" for label, k in zip(labels, np.tile(np.arange(12), 2))])
    splits = make_splits(labels, seed, groups=groups)
    where = {}
    for split, indices in splits.items():
        for i in indices:
            assert where.setdefault(groups[i], split) == split, f"session {groups[i]} cut across splits"
        assert set(labels[indices]) == {0, 1}, f"{split} lacks a class"
    assert sorted(np.concatenate(list(splits.values()))) == list(range(24))


def test_without_sessions_the_splits_are_as_before():
    labels = np.repeat([0, 1, 2], 10)
    assert all((make_splits(labels, 3)[s] == make_splits(labels, 3, groups=None)[s]).all() for s in ("train", "test"))


# --- the shelf ------------------------------------------------------------------------------------------


def test_an_upload_is_re_encoded_small_and_tagged_with_its_session(shelf):
    big = io.BytesIO()
    Image.fromarray(PHOTO).resize((1600, 1200)).save(big, format="PNG")
    shelf.create("mine", ["cup", "pen"])
    added = shelf.add_images("mine", "cup", [("big.png", big.getvalue() + b"<script>alert(1)</script>"),
                                            ("other.png", picture(3))])
    dataset = shelf.open("mine")
    stored = dataset.images("cup")
    assert added.added == 2 and len(added.sessions) == 1 and len(stored) == 2
    assert {session_of(p) for p in stored} == set(added.sessions)
    with Image.open(stored[0]) as image:
        assert image.format == "JPEG" and max(image.size) == 512 and image.size == (512, 384)
    assert b"<script>" not in stored[0].read_bytes()


@pytest.mark.parametrize("name, data, says", [
    ("notes.txt", b"not an image at all", "is not an image that can be read here"),
    ("drawing.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "is not an image that can be read here"),
    ("cut.png", picture(1)[:200], "is not an image that can be read here"),
])
def test_what_is_not_an_image_is_refused_in_one_line_and_the_rest_is_kept(shelf, name, data, says):
    shelf.create("mine", ["cup", "pen"])
    added = shelf.add_images("mine", "cup", [(name, data), ("good.png", picture(2))])
    assert added.added == 1 and len(added.refused) == 1
    assert name in added.refused[0] and says in added.refused[0] and "\n" not in added.refused[0]


def test_an_image_over_the_pixel_budget_and_a_duplicate_are_refused(shelf, monkeypatch):
    monkeypatch.setattr("workbench.data.decode.MAX_PIXELS", 5000)
    shelf.create("mine", ["cup", "pen"])
    added = shelf.add_images("mine", "cup", [("huge.png", picture(1, size=200)), ("small.png", picture(2, size=60))])
    assert added.added == 1 and "megapixels" in added.refused[0]
    again = shelf.add_images("mine", "pen", [("small again.png", picture(2, size=60))])
    assert again.added == 0 and "same picture as cup/" in again.refused[0]


@pytest.mark.parametrize("bad", ["../up", "a/b", "<b>x</b>", ".hidden", "", "x" * 41])
def test_a_class_or_dataset_name_with_a_slash_markup_or_a_leading_dot_is_refused(shelf, bad):
    with pytest.raises(DataError) as refused:
        shelf.create("mine", ["cup", bad])
    assert "\n" not in str(refused.value)
    with pytest.raises(DataError):
        shelf.create(bad, ["cup", "pen"])
    assert not (shelf.root / "mine").exists()


def test_a_full_disk_in_the_middle_of_an_import_leaves_nothing_half_saved(shelf, monkeypatch):
    from workbench.data.gathered import reencode

    real, calls = reencode.reencode, []

    def full_disk(data, name):
        calls.append(name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(data, name)

    monkeypatch.setattr(batches, "reencode", full_disk)
    with pytest.raises(OSError):
        shelf.create("mine", ["cup", "pen"], images={"cup": burst(0), "pen": burst(5)})
    assert [p.name for p in shelf.root.iterdir() if p.name != ".lock"] == []
    shelf.create("mine", ["cup", "pen"])
    calls.clear()
    with pytest.raises(OSError):
        shelf.add_images("mine", "cup", burst(0, frames=4))
    assert shelf.open("mine").count() == 0 and not list(shelf.root.glob(".add-*"))


def test_quotas_per_class_per_dataset_and_per_student(tmp_path):
    shelf = DatasetShelf(tmp_path / "runs", Quotas(images_per_class=3, images_per_dataset=5, megabytes_per_owner=1))
    shelf.create("mine", ["cup", "pen"], "ann")
    with pytest.raises(DataError, match="more than 3 images"):
        shelf.add_images("mine", "cup", burst(0, frames=4), "ann")
    shelf.add_images("mine", "cup", burst(0, frames=3), "ann")
    with pytest.raises(DataError, match="more than 5 images"):
        shelf.add_images("mine", "pen", burst(4, frames=3), "ann")
    big = [(f"{k}.png", picture(k, size=512)) for k in range(2)]
    shelf.create("more", ["a", "b"], "ann")
    shelf.quotas = Quotas(megabytes_per_owner=0)
    with pytest.raises(DataError, match="MB each student may keep"):
        shelf.add_images("more", "a", big, "ann")


def test_a_dataset_is_its_owners_until_shared_and_the_teacher_may_delete_any(shelf, tmp_path):
    three_sessions_each(shelf, "ann's", owner="ann")
    roots_of = {who: DataRoots.of([], tmp_path / "runs", viewer=who) for who in ("ann", "bob")}
    folder = str(shelf.root / "ann's")
    assert [d.name for d in shelf.list("bob")] == [] and [d.name for d in shelf.list("ann")] == ["ann's"]
    assert roots_of["ann"].folder(folder) == Path(folder).resolve()
    assert roots_of["ann"].folder("ann's") == Path(folder).resolve()
    for typed in (folder, "ann's", str(shelf.root)):  # not by path, not by name, not the whole shelf
        with pytest.raises(DataError) as refused:
            roots_of["bob"].folder(typed)
        assert "ann" not in str(refused.value)
    with pytest.raises(DataError, match="no dataset named"):
        shelf.add_images("ann's", "cup", burst(9), "bob")
    shelf.share("ann's", True, "ann")
    assert [d.name for d in shelf.list("bob")] == ["ann's"] and roots_of["bob"].folder("ann's")
    with pytest.raises(DataError, match="shared by another student"):
        shelf.add_images("ann's", "cup", burst(9), "bob")
    with pytest.raises(DataError, match="shared by another student"):
        shelf.delete("ann's", "bob")
    shelf.delete("ann's")  # the teacher
    assert shelf.list() == []


def test_renaming_adding_and_removing_classes_and_deleting_an_image(shelf):
    three_sessions_each(shelf)
    shelf.rename_class("mine", "cup", "mug")
    shelf.add_class("mine", "book")
    dataset = shelf.open("mine")
    assert dataset.classes() == ["book", "mug", "pen"]
    assert all(key.split("/")[0] in ("mug", "pen") for key in dataset.hashes)
    victim = dataset.images("mug")[0]
    shelf.delete_image("mine", "mug", victim.name)
    assert not victim.exists() and f"mug/{victim.name}" not in shelf.open("mine").hashes
    shelf.remove_class("mine", "book")
    with pytest.raises(DataError, match="at least 2 classes"):
        shelf.remove_class("mine", "pen")


# --- checks ---------------------------------------------------------------------------------------------


def test_too_few_sessions_says_how_many_to_add_and_training_refuses_it(shelf):
    shelf.create("mine", ["cup", "pen"])
    shelf.add_images("mine", "cup", burst(0))
    shelf.add_images("mine", "pen", burst(4))
    shelf.add_images("mine", "pen", burst(5))
    readiness = check_gathered(shelf.open("mine").folder)
    assert not readiness.ready and readiness.sessions == {"cup": 1, "pen": 2}
    assert any("'cup' has images from 1 capture session(s); add 2 more" in line for line in readiness.problems)
    with pytest.raises(DataError, match="add 2 more"):
        image_folder_source(shelf.open("mine").folder)


def test_near_copies_across_classes_and_across_splits_are_reported(shelf):
    three_sessions_each(shelf)
    assert check_gathered(shelf.open("mine").folder).near_copies == []
    shelf.add_images("mine", "pen", [("same cup.png", picture(0, brighter=9))])  # a cup filed as a pen
    copies = check_gathered(shelf.open("mine").folder).near_copies
    assert [c.where for c in copies if "pen/" in c.first + c.second] and all(
        c.where == "across classes" for c in copies)
    shelf.add_images("mine", "cup", [("again.png", picture(1, brighter=11))])  # a second session of one pose
    readiness = check_gathered(shelf.open("mine").folder, seed=0)
    across_splits = [c for c in readiness.near_copies if c.where.startswith("across splits")]
    spread = [check_gathered(shelf.open("mine").folder, seed=s).near_copies for s in range(8)]
    assert across_splits or any(c.where.startswith("across splits") for copies in spread for c in copies)


def test_a_gathered_folder_trains_with_whole_sessions_and_its_content_decides_reuse(shelf):
    three_sessions_each(shelf)
    folder = shelf.open("mine").folder
    source = image_folder_source(folder)
    assert source.groups is not None and len(set(source.groups)) == 6
    before = dataset_identity(f"imagefolder:{folder}")
    shelf.share("mine", True)
    assert dataset_identity(f"imagefolder:{folder}") == before  # sharing changes no image
    shelf.add_images("mine", "cup", burst(12))
    assert dataset_identity(f"imagefolder:{folder}") != before  # one more session: trains again


# --- zips -----------------------------------------------------------------------------------------------


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return out.getvalue()


def test_teachable_machine_sample_zips_one_per_class_become_one_dataset(shelf):
    cats = _zip({f"{k}.png": picture(k) for k in range(3)})
    dogs = _zip({f"{k}.png": picture(8 + k) for k in range(3)})
    dataset, _ = import_zips(shelf, "pets", [("Cat-samples.zip", cats), ("Dog.zip", dogs)])
    assert dataset.classes() == ["Cat", "Dog"] and dataset.count() == 6
    assert all(len(dataset.sessions(c)) == 3 for c in dataset.classes())  # separate pictures, separate sessions


def test_a_burst_found_in_an_imported_folder_stays_one_session(shelf):
    entries = {f"cup/{name}": data for name, data in burst(0, frames=4)}
    entries.update({f"cup/other{k}.png": picture(5 + k) for k in range(2)})
    entries.update({f"pen/{k}.png": picture(9 + k) for k in range(3)})
    dataset, _ = import_zips(shelf, "desk", [("desk.zip", _zip(entries))])
    assert len(dataset.sessions("cup")) == 3 and len(dataset.sessions("pen")) == 3


@pytest.mark.parametrize("entries, links, says", [
    ({"../evil/x.png": b"x", "cup/a.png": b"y"}, (), "points outside the zip"),
    ({"/etc/x.png": b"x"}, (), "points outside the zip"),
    ({"cup/a.png": b"x"}, ("cup/link.png",), "is a link"),
])
def test_a_zip_with_a_path_out_or_a_link_is_refused_whole(shelf, entries, links, says):
    with pytest.raises(DataError, match=says):
        import_zips(shelf, "evil", [("evil.zip", _zip(entries, links))])
    assert shelf.list() == []


def test_an_export_unzipped_anywhere_opens_as_an_image_folder_with_its_sessions(shelf, tmp_path):
    three_sessions_each(shelf, owner="ann")
    zip_path = export_zip(shelf.open("mine"), tmp_path / "mine.zip")
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tmp_path / "elsewhere")
        manifest = json.loads(archive.read("mine/workbench-dataset.json"))
    assert manifest["owner"] is None
    source = image_folder_source(tmp_path / "elsewhere" / "mine")
    assert source.classes == ["cup", "pen"] and len(set(source.groups)) == 6
    again, _ = import_zips(shelf, "mine again", [("mine.zip", zip_path)])

    def session_sizes(dataset):
        return {c: sorted(Counter(session_of(p) for p in dataset.images(c)).values()) for c in dataset.classes()}

    assert session_sizes(again) == session_sizes(shelf.open("mine")) == {"cup": [3, 3, 3], "pen": [3, 3, 3]}
    assert read_zip(zip_path, "mine.zip").keys() == {"cup", "pen"}


# --- the terminal ---------------------------------------------------------------------------------------


def test_workbench_data_imports_lists_checks_exports_and_deletes(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    for class_name, first in (("cup", 0), ("pen", 8)):
        (tmp_path / "photos" / class_name).mkdir(parents=True)
        for k in range(3):
            (tmp_path / "photos" / class_name / f"{k}.png").write_bytes(picture(first + k))
    assert main(["data", "import", str(tmp_path / "photos"), "--name", "desk", "--runs-dir", runs]) == 0
    assert "dataset 'desk': 6 images" in capsys.readouterr().out
    assert main(["data", "list", "--json", "--runs-dir", runs]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "desk" and listed[0]["classes"]["cup"] == {"images": 3, "sessions": 3}
    assert main(["data", "check", "desk", "--runs-dir", runs]) == 0
    assert "ready to train" in capsys.readouterr().out
    assert main(["data", "export", "desk", "-o", str(tmp_path / "desk.zip"), "--runs-dir", runs]) == 0
    assert zipfile.is_zipfile(tmp_path / "desk.zip")
    assert main(["data", "delete", "desk", "--runs-dir", runs]) == 0
    capsys.readouterr()
    assert main(["data", "delete", "desk", "--runs-dir", runs]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no dataset named 'desk'") and err.count("\n") == 1
    assert main(["data", "import", str(tmp_path / "nowhere.zip"), "--runs-dir", runs]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert os.listdir(tmp_path / "runs" / "datasets") == [".lock"]


# --- what a curious student tries -------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_before_it_is_unpacked_and_a_damaged_entry_in_one_line(shelf, monkeypatch):
    from workbench.data.gathered import archive

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for k in range(3):
            bomb.writestr(f"cup/{k}.png", b"\0" * 4_000_000)  # 12 MB of zeros in a zip of a few kB
    assert len(out.getvalue()) < 100_000
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 10_000_000)
    with pytest.raises(DataError, match="unpacks to more than 10 MB"):
        import_zips(shelf, "bomb", [("bomb.zip", out.getvalue())])
    shelf.quotas = Quotas(images_per_dataset=2)
    with pytest.raises(DataError, match="more than the 2 a dataset may hold"):
        import_zips(shelf, "many", [("many.zip", _zip({f"cup/{k}.png": picture(k) for k in range(3)}))])
    damaged = bytearray(_zip({"cup/a.png": picture(1), "pen/b.png": picture(2)}))
    start = damaged.find(b"\x89PNG")
    damaged[start + 40:start + 48] = b"\xff" * 8  # the bytes no longer match their checksum
    with pytest.raises(DataError, match="is damaged or packed in a way this cannot read"):
        import_zips(shelf, "damaged", [("damaged.zip", bytes(damaged))])
    assert shelf.list() == []


def test_a_data_root_holding_the_run_folder_does_not_open_the_datasets_above_them(tmp_path):
    shelf = DatasetShelf(tmp_path / "school" / "runs")
    three_sessions_each(shelf, "ann's", owner="ann")
    roots = DataRoots.of([tmp_path / "school"], tmp_path / "school" / "runs", viewer="bob")
    for typed in (str(tmp_path / "school"), str(tmp_path / "school" / "runs"), "runs"):
        with pytest.raises(DataError):
            roots.folder(typed)


@pytest.mark.parametrize("bad", ["workbench-dataset.json", "a\u3164b", "a\u200bb", "x\u202e"])
def test_the_shelfs_own_file_name_and_invisible_letters_are_not_names(shelf, bad):
    with pytest.raises(DataError, match="may hold only"):
        shelf.create("mine", ["cup", bad])


def test_class_folders_named_in_any_unicode_form_keep_their_images(shelf):
    decomposed = "cafe\u0301"  # é as e + an accent, as some file systems write it
    dataset, _ = shelf.create("drinks", [], images={decomposed: burst(0), "tea  pot": burst(5)})
    assert dataset.classes() == ["café", "tea pot"] and dataset.count() == 6


def test_the_megabytes_a_student_keeps_count_the_batch_being_added(tmp_path):
    shelf = DatasetShelf(tmp_path / "runs", Quotas(megabytes_per_owner=1))
    shelf.create("mine", ["cup", "pen"], "ann")
    rng = np.random.default_rng(0)
    noise = [(f"{k}.png", _png_of(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))) for k in range(8)]
    with pytest.raises(DataError, match="more than the 1 MB each student may keep"):
        shelf.add_images("mine", "cup", noise, "ann")
    assert shelf.open("mine", "ann").count() == 0 and not list(shelf.root.glob(".add-*"))


def _png_of(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def test_a_class_page_is_told_of_its_dataset_by_name_never_by_the_servers_path(shelf, tmp_path):
    from workbench.data.loading import check_dataset
    from workbench.present.report import settings_text

    shelf.create("mine", ["cup", "pen"], "ann")
    shelf.add_images("mine", "cup", burst(0), "ann")
    roots = DataRoots.of([], tmp_path / "runs", viewer="ann")
    folder = str(shelf.open("mine").folder)
    with pytest.raises(DataError) as refused:
        check_dataset(f"imagefolder:{folder}", tmp_path, roots)
    assert "dataset 'mine'" in str(refused.value) and str(tmp_path) not in str(refused.value)
    assert settings_text({"dataset": f"imagefolder:{folder}"}) == "dataset imagefolder:…/mine"
    assert shelf.holding(f"imagefolder:{folder}", "ann").name == "mine" and shelf.holding(f"imagefolder:{folder}",
                                                                                        "bob") is None


def test_a_phone_key_opens_only_its_class_upload_and_a_wrong_one_nothing(shelf, tmp_path, monkeypatch):
    import time as clock

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from workbench.dashboard.phone import PHONE, PhoneKey, phone_keys

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    st.cache_resource.clear()
    three_sessions_each(shelf, owner="ann")
    token = phone_keys().make(PhoneKey(shelf.root, "mine", "pen", "ann", clock.time() + 60, shelf.quotas))
    dashboard = str(Path(__file__).resolve().parents[1] / "dashboard.py")
    for given, says in ((token, "Add photos to pen (mine)"), ("guessed", "expired or was never valid")):
        page = AppTest.from_file(dashboard, default_timeout=60)
        page.query_params[PHONE] = given
        page.run()
        shown = " ".join(e.value for e in [*page.subheader, *page.error])
        assert says in shown and not page.tabs and not page.sidebar.children, shown


def _upload_notice(added: int, refused: list[str]) -> None:
    from workbench.dashboard.gather import _act, _show_notice
    from workbench.data.gathered.batches import Added

    _act(lambda: Added(added, [], refused), "added {added} image(s) to 'cup' as one session")
    _show_notice()


@pytest.mark.parametrize("added, refused, success", [(0, ["a.png is not an image"], None),
                                                     (2, ["a.png is not an image"], "added 2 image"),
                                                     (3, [], "added 3 image")])
def test_an_upload_that_added_nothing_says_only_why_not_added_0(added, refused, success):
    """A probe: every file refused, and a green "added 0 image(s) to 'cup' as one session" still showed."""
    from streamlit.testing.v1 import AppTest

    page = AppTest.from_function(_upload_notice, args=(added, refused)).run()
    shown = [s.value.replace("\\", "") for s in page.success]  # (drawn as text: marks escaped)
    assert (shown == []) if success is None else (len(shown) == 1 and success in shown[0]), shown
    assert len(page.warning) == len(refused) and not page.exception
