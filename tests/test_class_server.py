"""Safe to serve to a class (issue 20): data roots, what is decoded, and names drawn as text.

A class page reaches image folders only inside the teacher's data roots, and every refusal is one line
that says nothing about the path; images are opened as JPEG, PNG, BMP, GIF, WebP or TIFF only, within a
pixel budget; a name typed on one page is drawn as plain text on every page.
"""

import io
import os
import re
import string
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import streamlit as st
import torch
from app_pages import app_page
from PIL import EpsImagePlugin, Image, ImageFile
from streamlit.testing.v1 import AppTest

from workbench.cli import serve
from workbench.cli.main import main
from workbench.core.errors import DataError
from workbench.data import decode as decoding
from workbench.data.decode import ImageRefused, decode
from workbench.data.gathered.manifest import MANIFEST
from workbench.data.kinds.folders import decode_image
from workbench.data.loading import check_dataset
from workbench.data.roots import DataRoots, folder_argument
from workbench.jobs.queue import JobQueue
from workbench.spec import preflight

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n"
       b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n")


# --- data roots ---------------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "class photos"
    (root / "pets" / "cats").mkdir(parents=True)
    (tmp_path / "private" / "diary").mkdir(parents=True)
    os.symlink(tmp_path / "private", root / "shortcut")  # a link inside a root that leads out of it
    for shared in ("uploaded", "shortcut"):  # datasets the class shared (a page sees those, and its own)
        (tmp_path / "runs" / "datasets" / shared).mkdir(parents=True)
        (tmp_path / "runs" / "datasets" / shared / MANIFEST).write_text('{"owner": "someone", "shared": true}')
    return DataRoots.of([str(root)], tmp_path / "runs"), root, tmp_path


def test_a_folder_inside_a_root_is_found_by_its_path_or_by_its_name_there(roots):
    data_roots, root, tmp_path = roots
    pets = (root / "pets").resolve()
    assert data_roots.folder(str(root / "pets")) == pets
    assert data_roots.folder("pets") == pets
    assert data_roots.folder(str(root / "pets" / "cats" / "..")) == pets
    assert data_roots.folder(str(tmp_path / "runs" / "datasets" / "uploaded")) == (tmp_path / "runs" / "datasets"
                                                                                   / "uploaded").resolve()
    for tilde in ("~", "~/"):  # no ~ expansion: a folder named "~" inside the root, not the server's home
        assert data_roots.folder(tilde) == (root / "~").resolve()
    assert data_roots.folder("shortcut") == (tmp_path / "runs" / "datasets" / "shortcut").resolve()  # not the link
    assert folder_argument("  ~/anything ", None) == "~/anything"  # the command line and the teacher: any path


@pytest.mark.parametrize("typed, problem", [("~", "does not exist"), ("pets", "no images found"),
                                            ("pets/cats", "no images found")])
def test_a_class_pages_folder_inside_a_root_is_named_as_typed_never_by_the_servers_path(roots, typed, problem):
    """A folder inside a data root that cannot be trained on says why, naming it as the student typed it: the
    resolved path would tell every student where the teacher keeps the class's folders."""
    data_roots, root, tmp_path = roots
    with pytest.raises(DataError) as refused:
        check_dataset(f"imagefolder:{typed}", tmp_path, data_roots)
    assert problem in str(refused.value) and typed in str(refused.value)
    assert str(tmp_path) not in str(refused.value) and root.name not in str(refused.value)
    resolved = folder_argument(typed, data_roots)  # what the page's Launch checks (a probe saw the server's path)
    with pytest.raises(DataError) as refused:
        check_dataset(f"imagefolder:{resolved}", tmp_path, data_roots)
    assert problem in str(refused.value) and f"class photos/{typed.strip('/')}" in str(refused.value)
    assert str(tmp_path) not in str(refused.value)


@pytest.mark.parametrize("typed", ["/", "/proc/self", "{home}", "{private}", "{private}/missing",
                                   "{tmp}/no such folder", "{root}/../private", "../private",
                                   "{root}/shortcut/diary", "", "   ", "a\0b"])
def test_every_refusal_is_the_same_line_whether_or_not_the_path_exists(roots, typed, monkeypatch):
    data_roots, root, tmp_path = roots
    walked = []
    monkeypatch.setattr(os, "walk", lambda *a, **k: walked.append(a) or iter(()))
    typed = typed.format(home=Path.home(), private=tmp_path / "private", tmp=tmp_path, root=root)
    with pytest.raises(DataError) as refused:
        data_roots.folder(typed)
    assert str(refused.value) == data_roots.refusal() and "\n" not in str(refused.value)
    with pytest.raises(DataError) as checked:
        check_dataset(f"imagefolder:{typed}", tmp_path, data_roots)
    assert str(checked.value) == data_roots.refusal()  # the engine's check says the same, and walks nothing
    assert preflight.class_count(f"imagefolder:{typed}", data_roots) is None
    assert not walked


def test_without_a_named_root_a_class_page_reads_no_typed_folder(tmp_path):
    data_roots = DataRoots.of(None, tmp_path / "runs")
    with pytest.raises(DataError, match="--data-root DIR") as refused:
        data_roots.folder(str(tmp_path))
    assert str(tmp_path) not in str(refused.value)


def test_the_dashboard_command_passes_data_roots_and_refuses_a_missing_one(tmp_path, monkeypatch, capsys):
    started = []

    class Started(Exception):
        pass

    def execv(path, command):
        started.append(command)
        raise Started

    monkeypatch.setattr(os, "execv", execv)
    assert main(["dashboard", "--data-root", str(tmp_path / "nowhere")]) != 0
    assert "--data-root" in capsys.readouterr().err and not started
    (tmp_path / "photos").mkdir()
    with pytest.raises(Started):
        main(["dashboard", "--data-root", str(tmp_path / "photos"), "--data-root", str(tmp_path)])
    assert started[0][-5:] == ["--", "--data-root", str((tmp_path / "photos").resolve()), "--data-root",
                               str(tmp_path.resolve())]
    assert serve.streamlit_command([], data_roots=["a"])[-3:] == ["--", "--data-root", "a"]


def _page(argv: list[str], session: str = "a-student") -> AppTest:
    return app_page(session, argv=argv)


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    st.cache_resource.clear()
    st.cache_data.clear()
    return tmp_path


def _launch_folder(at: AppTest, typed: str) -> str:
    at.selectbox(key="dataset").set_value("your image folder").run()
    at.text_input(key="dataset_folder").set_value(typed).run()
    at.button(key="launch").click().run()
    return at.sidebar.error[0].value


def test_a_class_page_reads_folders_only_inside_the_data_roots(server, roots):
    data_roots, root, tmp_path = roots
    at = _page(["--data-root", str(root)])
    errors = {typed: _launch_folder(at, typed) for typed in ("/", "/proc/self", str(tmp_path / "private"),
                                                             str(tmp_path / "not there"), "~")}
    refused = [errors[t] for t in ("/", "/proc/self", str(tmp_path / "private"), str(tmp_path / "not there"))]
    assert len(set(refused)) == 1 and "diary" not in refused[0] and "private" not in refused[0]
    assert "does not exist" in errors["~"]  # inside the root: an ordinary message
    (root / "pets" / "dogs").mkdir()
    assert "no images found" in _launch_folder(at, "pets")
    assert JobQueue(tmp_path / "runs").jobs() == []  # nothing was queued


def test_with_no_data_root_a_class_page_offers_no_path_and_the_teacher_page_any(server, tmp_path, monkeypatch):
    walked = []
    monkeypatch.setattr(os, "walk", lambda *a, **k: walked.append(a) or iter(()))
    at = _page([])
    at.selectbox(key="dataset").set_value("your image folder").run()
    assert not [t for t in at.sidebar.text_input if t.key == "dataset_folder"]
    assert any("--data-root DIR" in c.value.replace("\\", "") for c in at.sidebar.caption)
    at.session_state["dataset_folder"] = "/"  # a path left in the page's state: refused, and / is not walked
    at.button(key="launch").click().run()
    assert "--data-root DIR" in at.sidebar.error[0].value.replace("\\", "") and not walked
    teacher = _page(["--teacher"], "the-teacher")
    assert "does not exist" in _launch_folder(teacher, str(tmp_path / "anywhere"))


# --- decoding --------------------------------------------------------------------------------------------


def _png(mode="RGB", size=(40, 30), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 100).save(buffer, "PNG", **save)
    return buffer.getvalue()


@pytest.fixture
def no_ghostscript(monkeypatch):
    """Records any attempt to read an EPS file or to start a program; none may happen."""
    attempts = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: attempts.append("eps reader"))
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: attempts.append("ghostscript"))
    for name in ("Popen", "call", "check_call", "run"):
        monkeypatch.setattr(subprocess, name, lambda *a, **k: attempts.append(f"subprocess {a}"))
    return attempts


def test_an_eps_photo_is_refused_in_one_line_and_ghostscript_is_never_tried(tmp_path, no_ghostscript):
    from workbench.inside.photo import read_photo

    path = tmp_path / "holiday.jpg"  # any suffix: Pillow goes by the content
    path.write_bytes(EPS)
    with pytest.raises(ImageRefused, match="holiday.jpg is not an image that can be read here") as refused:
        decode(path, 32)
    assert "\n" not in str(refused.value)
    with pytest.raises(DataError, match="JPEG, PNG, BMP, GIF, WebP or TIFF"):
        read_photo(EPS, 32, "upload.png")
    assert decode_image(path, 32) == decoding.UNREADABLE  # an image folder skips it and counts it
    assert no_ghostscript == []


def test_a_16_bit_png_over_the_budget_is_refused_before_it_is_decoded(monkeypatch):
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size) or real_load(self))
    monkeypatch.setattr(decoding, "MAX_PIXELS", 100 * 100)
    buffer = io.BytesIO()
    Image.fromarray(np.full((120, 120), 60_000, dtype=np.uint16)).save(buffer, "PNG")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode.startswith("I;16")
    with pytest.raises(ImageRefused, match="over 0.01 megapixels"):
        decode(io.BytesIO(buffer.getvalue()), 16, "scan.png")
    assert loads == []  # refused from its header: no pixel was decoded
    within = io.BytesIO()
    Image.fromarray((np.arange(90 * 90).reshape(90, 90) * 7).astype(np.uint16)).save(within, "PNG")
    image = decode(within, 16)
    assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and image.max() > 200  # stretched to 8 bits


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF"])
def test_a_truncated_image_is_refused(kind):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, kind)
    with pytest.raises(ImageRefused, match="truncated"):
        decode(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]), 16, "cut")


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF"])
def test_each_allowed_format_decodes_to_rgb_of_the_asked_size(kind):
    buffer = io.BytesIO()
    Image.new("RGB", (70, 50), (200, 30, 30)).save(buffer, kind)
    image = decode(io.BytesIO(buffer.getvalue()), 24)
    assert image.shape == (3, 24, 24) and image.dtype == torch.uint8
    assert image[0].float().mean() > 150 and image[2].float().mean() < 80


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_and_its_turn_is_kept(monkeypatch):
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size) or real_load(self))
    buffer = io.BytesIO()
    wide = np.zeros((200, 600, 3), dtype=np.uint8)
    wide[:100, :, 0] = 255  # top half red, bottom half blue
    wide[100:, :, 2] = 255
    exif = Image.Exif()
    exif[decoding.ORIENTATION] = 8  # shown turned a quarter anticlockwise: the red half is then on the left
    Image.fromarray(wide).save(buffer, "JPEG", exif=exif)
    image = decode(io.BytesIO(buffer.getvalue()), 16).float()
    assert image[0, :, :8].mean() > 200 and image[2, :, 8:].mean() > 200
    assert set(loads) == {(150, 50)}  # decoded at a quarter of the width and height (still twice the size asked)


def test_the_dashboard_decodes_a_photo_once_per_upload(monkeypatch):
    from workbench.dashboard import inside
    from workbench.inside.views import VIEWS

    computed = []

    def compute(networks, data, name):
        computed.append(name)
        if data == b"bad":
            raise DataError(f"{name} is not an image")
        return f"view of {name}"

    monkeypatch.setitem(VIEWS, "photo", VIEWS["photo"].__class__("photo", compute, str, lambda n, r: []))
    state, networks = {}, SimpleNamespace(comparison_id="c-1")
    for _ in range(3):  # the page reruns on every click
        assert inside.kept_photo(state, networks, _png(), "a.png") == ("view of a.png", None)
    assert inside.kept_photo(state, networks, b"bad", "b.png") == (None, "b.png is not an image")
    assert inside.kept_photo(state, networks, b"bad", "b.png") == (None, "b.png is not an image")
    assert inside.kept_photo(state, SimpleNamespace(comparison_id="c-2"), b"bad", "b.png")[1]
    assert computed == ["a.png", "b.png", "b.png"]


# --- names drawn as text -----------------------------------------------------------------------------------

NAMES = ["![x](http://evil.example/pixel.png)", "[click](http://evil.example)", "https://evil.example",
         "www.evil.example", "<img src=x onerror=alert(1)>", "**big** _it_ `code`", ":red[loud] :skull:",
         "$x^2$", "- bullet", "# heading", "1. first", "a\nb", "back\\slash", "Ada Lovelace", "ada@school.example",
         "HTTPS://EVIL.EXAMPLE", "WWW.evil.example"]


def _all_marks_escaped(markdown: str) -> bool:
    """Every ASCII punctuation mark in ``markdown`` is escaped by a backslash (CommonMark then shows it as itself)."""
    return re.fullmatch(r"(?:\\[" + re.escape(string.punctuation) + r"]|[^" + re.escape(string.punctuation) + r"])*",
                        markdown) is not None


@pytest.mark.parametrize("name", NAMES)
def test_plain_text_shows_as_typed_and_nothing_in_it_is_markdown(name):
    from workbench.dashboard.text import plain

    shown = plain(name)
    assert _all_marks_escaped(shown) and "\n" not in shown
    assert _as_shown(shown) == " ".join(name.split())  # it reads as typed
    assert not re.search(r"(?i)https?:|www\.|@[-\w]", shown.replace("\\", ""))  # no bare address to link


def _as_shown(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


def test_a_students_name_is_drawn_as_text_in_every_pages_queue(server):
    queue = JobQueue(server / "runs")
    name = "![x](http://evil.example/pixel.png) [win](http://evil.example)"
    queue.add("someone", name=name, label="comparison", pid=os.getpid())  # waits in line: its process lives
    at = _page([], "another-student")
    (line,) = [m.value for m in at.markdown if "comparison" in m.value and "evil" in m.value]
    assert "](" not in line and "![" not in line and "http://" not in line
    shown = line.split("**")[1]
    assert _all_marks_escaped(shown) and _as_shown(shown) == name
