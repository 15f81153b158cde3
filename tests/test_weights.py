"""The weights tool against a real HTTP server on 127.0.0.1: no test touches the internet.

The server's first path segment picks how it behaves (``good``, ``truncate``, ``stall``), and
the mirror URL is that base plus the file name, so each test names the transfer it gets.
"""

import dataclasses
import hashlib
import io
import json
import os
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from workbench.cli.main import main
from workbench.core.errors import WeightsError
from workbench.models import backbones, catalogue
from workbench.models.backbones import TorchvisionWeights, get_backbone, list_backbones
from workbench.models.weights import download as weights_download
from workbench.models.weights.download import source_url
from workbench.models.weights.pack import MANIFEST, pack, unpack
from workbench.models.weights.status import fetch, raise_if_corrupt, verify, weights_file, weights_status


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        self.server.requests.append(self.path)
        file = self.server.root / name
        if not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data) + (1000 if mode == "truncate" else 0)))
        self.end_headers()
        if mode == "stall":  # half the file, then silence until the test is over
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.server.release.wait(10)
        else:
            self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.root, httpd.requests, httpd.release = root, [], threading.Event()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home_a"))
    monkeypatch.delenv(weights_download.MIRROR_ENV, raising=False)
    return tmp_path / "home_a" / "hub" / "checkpoints"


def _weights_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": torch.arange(6.0).view(2, 3) + seed}, buffer)
    return buffer.getvalue()


def _fake_backbone(monkeypatch, server, name: str, data: bytes) -> str:
    """Register ``name`` with weights whose file name carries the SHA-256 of ``data``; return the file name."""
    file_name = f"{name}-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    fake = SimpleNamespace(url=f"{server.base}/good/{file_name}", meta={"_file_size": len(data) / 2**20})
    spec = dataclasses.replace(get_backbone("resnet18"), name=name, weights=TorchvisionWeights(fake))
    monkeypatch.setitem(backbones._REGISTRY, name, spec)
    monkeypatch.setattr(catalogue, "BACKBONE_NAMES", (*catalogue.BACKBONE_NAMES, name))  # the names `get_backbone` takes
    return file_name


@pytest.fixture
def tiny(monkeypatch, server):
    """A backbone 'tinynet' whose good file is on the server; returns its file name."""
    data = _weights_bytes(0)
    file_name = _fake_backbone(monkeypatch, server, "tinynet", data)
    (server.root / file_name).write_bytes(data)
    return file_name


def _cache_is_empty(cache: Path) -> bool:
    return not cache.exists() or not any(cache.iterdir())


def test_the_mirror_url_is_the_mirror_base_plus_the_file_name(monkeypatch):
    upstream = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert source_url("resnet18-f37072fd.pth", upstream) == upstream
    monkeypatch.setenv(weights_download.MIRROR_ENV, "http://school.lan/weights/")
    assert source_url("resnet18-f37072fd.pth", upstream) == "http://school.lan/weights/resnet18-f37072fd.pth"
    assert source_url("resnet18-f37072fd.pth", upstream, "http://other") == "http://other/resnet18-f37072fd.pth"


def test_every_weights_file_can_be_verified_from_its_name():
    for name in list_backbones():
        weights_download.hash_prefix(weights_file(name).file_name)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_shipped_weights_match_the_hash_in_their_name(name):
    file = weights_file(name, check=True)
    assert (file.state, file.verified) == ("shipped", True)
    assert weights_status(name) == (True, "")


def test_a_good_file_is_fetched_from_the_mirror_verified_and_listed_as_cached(home, server, tiny):
    assert weights_status("tinynet") == (False, "workbench weights fetch tinynet")
    lines = list(fetch(["tinynet"], mirror=f"{server.base}/good", progress=False))
    assert server.requests == [f"/good/{tiny}"]
    assert "fetched and verified" in lines[0]
    assert [p.name for p in home.iterdir()] == [tiny]  # no temporary file left beside it
    file = weights_file("tinynet", check=True)
    assert (file.state, file.verified, file.size) == ("cached", True, len((server.root / tiny).read_bytes()))
    assert weights_status("tinynet") == (True, "")
    assert "already cached and verified" in next(fetch(["tinynet"], progress=False))
    assert len(server.requests) == 1


def test_a_file_whose_hash_does_not_match_is_refused_and_nothing_is_kept(home, server, tiny):
    (server.root / tiny).write_bytes(_weights_bytes(1))
    with pytest.raises(WeightsError) as error:
        list(fetch(["tinynet"], mirror=f"{server.base}/good", progress=False))
    message = str(error.value)
    assert tiny in message and "corrupt" in message and "nothing was saved" in message and "\n" not in message
    assert _cache_is_empty(home)


def test_a_truncated_transfer_is_refused_and_nothing_is_kept(home, server, tiny):
    with pytest.raises(WeightsError, match=r"stopped after [\d,]+ of [\d,]+ bytes; nothing was saved"):
        list(fetch(["tinynet"], mirror=f"{server.base}/truncate", progress=False))
    assert _cache_is_empty(home)


def test_a_server_that_stops_mid_file_times_out_and_nothing_is_kept(home, server, tiny, monkeypatch):
    monkeypatch.setattr(weights_download, "TIMEOUT_S", 0.5)
    with pytest.raises(WeightsError, match=r"could not be downloaded .*timed out.*nothing was saved"):
        list(fetch(["tinynet"], mirror=f"{server.base}/stall", progress=False))
    assert _cache_is_empty(home)


def test_a_file_missing_on_the_mirror_names_the_http_status(home, server, tiny):
    (server.root / tiny).unlink()
    with pytest.raises(WeightsError, match=rf"{tiny} could not be downloaded from .*/good/{tiny} \(HTTP 404"):
        list(fetch(["tinynet"], mirror=f"{server.base}/good", progress=False))


def test_building_a_backbone_downloads_through_the_verified_path_and_honours_the_mirror(home, server, tiny, monkeypatch):
    monkeypatch.setenv(weights_download.MIRROR_ENV, f"{server.base}/mirror")
    state = get_backbone("tinynet").weights.load_state_dict("tinynet")
    assert server.requests == [f"/mirror/{tiny}"]
    assert torch.equal(state["weight"], torch.arange(6.0).view(2, 3))
    (home / tiny).unlink()
    (server.root / tiny).write_bytes(_weights_bytes(1))
    with pytest.raises(WeightsError, match=r"^tinynet: .*corrupt.*efficientnet_lite0"):
        get_backbone("tinynet").weights.load_state_dict("tinynet")
    assert _cache_is_empty(home)


def test_verify_names_a_corrupt_file_with_the_command_that_removes_it(home, server, tiny):
    list(fetch(["tinynet"], progress=False))  # from the fake's upstream URL on the test server
    assert all(file.verified for file in verify())
    (home / tiny).write_bytes(b"flipped bits")
    files = {file.backbone: file for file in verify()}
    assert files["tinynet"].verified is False and files["efficientnet_lite0"].verified is True
    with pytest.raises(WeightsError, match=rf"1 weights file.*rm '{home / tiny}'.*workbench weights fetch tinynet"):
        raise_if_corrupt(list(files.values()))


def _two_cached_files(monkeypatch, server, cache: Path) -> list[str]:
    cache.mkdir(parents=True)
    names = []
    for seed, name in enumerate(["tinynet", "smallnet"]):
        data = _weights_bytes(seed)
        names.append(_fake_backbone(monkeypatch, server, name, data))
        (cache / names[-1]).write_bytes(data)
    return names


def test_pack_and_unpack_move_verified_weights_between_two_machines(home, server, tmp_path, monkeypatch):
    files = _two_cached_files(monkeypatch, server, home)
    manifest = pack(tmp_path / "usb" / "weights.zip", ["tinynet", "smallnet"])
    assert set(manifest) == set(files)
    with zipfile.ZipFile(tmp_path / "usb" / "weights.zip") as archive:
        assert set(archive.namelist()) == {MANIFEST, *files}
        assert json.loads(archive.read(MANIFEST))["files"] == manifest
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home_b"))
    assert weights_status("tinynet")[0] is False
    assert sorted(unpack(tmp_path / "usb" / "weights.zip")) == sorted(files)
    other = tmp_path / "home_b" / "hub" / "checkpoints"
    assert sorted(p.name for p in other.iterdir()) == sorted(files)
    for name in files:
        assert (other / name).read_bytes() == (home / name).read_bytes()
    assert weights_file("smallnet", check=True).verified is True


def test_a_tampered_zip_is_refused_and_nothing_is_placed(home, server, tmp_path, monkeypatch):
    files = _two_cached_files(monkeypatch, server, home)
    pack(tmp_path / "weights.zip", ["tinynet", "smallnet"])
    with zipfile.ZipFile(tmp_path / "weights.zip") as original, \
            zipfile.ZipFile(tmp_path / "tampered.zip", "w") as tampered:
        for name in original.namelist():
            data = original.read(name)
            tampered.writestr(name, data[:-1] + bytes([data[-1] ^ 1]) if name == files[1] else data)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home_b"))
    with pytest.raises(WeightsError, match=rf"{files[1]} does not match its SHA-256.*nothing was placed"):
        unpack(tmp_path / "tampered.zip")
    assert _cache_is_empty(tmp_path / "home_b" / "hub" / "checkpoints")  # not even the good first file


def test_a_zip_with_a_path_outside_the_cache_is_refused(home, tmp_path):
    data = _weights_bytes(0)
    evil = f"../evil-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as archive:
        archive.writestr(MANIFEST, json.dumps({"files": {evil: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}}))
        archive.writestr(evil, data)
    with pytest.raises(WeightsError, match=r"holds '\.\./evil-.*not a plain weights file name.*nothing was placed"):
        unpack(tmp_path / "evil.zip")
    assert _cache_is_empty(home) and not list(home.parent.parent.rglob("evil-*"))


def test_unpacking_something_that_is_not_a_zip_says_so(home, tmp_path):
    (tmp_path / "notes.zip").write_text("not a zip")
    with pytest.raises(WeightsError, match=r"notes.zip is not a readable zip.*nothing was placed"):
        unpack(tmp_path / "notes.zip")


def test_cli_failures_are_one_line_with_exit_code_2(home, server, tiny, capsys):
    (server.root / tiny).write_bytes(_weights_bytes(1))
    assert main(["weights", "fetch", "tinynet", "--mirror", f"{server.base}/good"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and tiny in err
    assert main(["weights", "fetch"]) == 2
    assert capsys.readouterr().err.startswith("error: name the backbones to fetch")
    assert main(["weights", "import", str(home / "missing.zip")]) == 2
    assert "missing.zip: no such file" in capsys.readouterr().err


def test_cli_fetch_then_list_json_shows_the_file_cached_and_verified(home, server, tiny, capsys):
    assert main(["weights", "fetch", "tinynet", "--mirror", f"{server.base}/good"]) == 0
    capsys.readouterr()
    assert main(["weights", "list", "--json"]) == 0
    rows = {row["backbone"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["tinynet"] | {"path": None} == {
        "backbone": "tinynet", "state": "cached", "file": tiny, "path": None, "size": (home / tiny).stat().st_size,
        "download_mb": pytest.approx((home / tiny).stat().st_size / 2**20), "verified": True, "how_to_get": ""}
    assert rows["resnet18"]["state"] == "missing" and rows["resnet18"]["how_to_get"] == "workbench weights fetch resnet18"


def test_ctrl_c_mid_download_leaves_nothing_and_says_so_in_one_line(home, server, tiny, monkeypatch, capsys):
    real_urlopen = weights_download._urlopen

    def interrupted_after_the_first_chunk(url):
        response = real_urlopen(url)
        read, reads = response.read, []

        def read_then_interrupt(size):
            if reads:
                raise KeyboardInterrupt
            reads.append(size)
            return read(size)

        response.read = read_then_interrupt
        return response

    monkeypatch.setattr(weights_download, "_urlopen", interrupted_after_the_first_chunk)
    assert main(["weights", "fetch", "tinynet"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted: ") and err.count("\n") == 1
    assert _cache_is_empty(home)


# --- `weights unpack` trusts no size, name or manifest (issue 20, item 10) -------------------------------------

def _zip(path: Path, members: dict[str, bytes], manifest, compression=zipfile.ZIP_STORED) -> Path:
    """A zip of ``members`` and a manifest (a dict is written as JSON, bytes as they are)."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr(MANIFEST, manifest if isinstance(manifest, bytes) else json.dumps(manifest))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _entry(data: bytes, **extra) -> dict:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}


def _nothing_written(monkeypatch) -> list:
    """Fail the test if unpacking opens any file to write into the cache."""
    from workbench.models.weights import pack as weights_pack

    opened = []
    monkeypatch.setattr(weights_pack, "temporary_file", lambda *args, **kwargs: opened.append(args) or 1 / 0)
    return opened


def test_a_small_zip_cannot_place_a_file_larger_than_its_backbone_uses(home, server, tiny, tmp_path, monkeypatch):
    """Seen: a 306 KB zip placed a 300 MB file. Sizes are checked against the backbone's own file before a byte
    is written: 20 MB of zeros deflate to 20 KB, and tinynet's weights are 1 KB."""
    huge = bytes(20 << 20)
    bomb = _zip(tmp_path / "bomb.zip", {tiny: huge}, {"files": {tiny: _entry(huge, backbone="tinynet")}},
                zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 100_000
    opened = _nothing_written(monkeypatch)
    with pytest.raises(WeightsError, match=rf"gives {tiny} 20,971,520 bytes; tinynet's weights are at most "
                                           r"[\d,]+; nothing was placed"):
        unpack(bomb)
    assert opened == [] and _cache_is_empty(home)


def test_a_zip_whose_hash_is_wrong_is_refused_before_anything_is_written(home, server, tiny, tmp_path, monkeypatch):
    data = bytearray(_weights_bytes(0))
    data[-1] ^= 1
    good = _weights_bytes(0)
    opened = _nothing_written(monkeypatch)
    with pytest.raises(WeightsError, match=rf"{tiny} does not match its SHA-256.*nothing was placed"):
        unpack(_zip(tmp_path / "bad.zip", {tiny: bytes(data)}, {"files": {tiny: _entry(good)}}))
    assert opened == [] and _cache_is_empty(home)


def test_reading_stops_at_the_first_byte_past_the_size_the_manifest_gives(tmp_path):
    """The zip's own directory is the zip's word: the hash reads at most one byte more than the manifest allows."""
    from workbench.models.weights.pack import _digest

    class Member(io.BytesIO):
        served = 0

        def read(self, size=-1):
            chunk = super().read(size)
            Member.served += len(chunk)
            return chunk

    archive = SimpleNamespace(open=lambda name: Member(bytes(10 << 20)))
    with pytest.raises(WeightsError, match=r"holds more than the 1,000 bytes its manifest.json gives"):
        _digest(archive, "x-00000000.pth", 1000, tmp_path / "z.zip", "nothing was placed")
    assert Member.served == 1001


def test_a_zip_that_adds_a_file_no_backbone_uses_is_refused(home, server, tmp_path, monkeypatch):
    files = _two_cached_files(monkeypatch, server, home)
    pack(tmp_path / "weights.zip", ["tinynet", "smallnet"])
    extra = _weights_bytes(7)
    extra_name = f"helper-{hashlib.sha256(extra).hexdigest()[:8]}.pth"  # a plain name, its hash right
    with zipfile.ZipFile(tmp_path / "weights.zip") as archive:
        members = {name: archive.read(name) for name in files}
        manifest = json.loads(archive.read(MANIFEST))
    manifest["files"][extra_name] = _entry(extra, backbone="tinynet")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home_b"))
    with pytest.raises(WeightsError, match=rf"holds {extra_name}, which is not the weights file of any backbone"):
        unpack(_zip(tmp_path / "more.zip", {**members, extra_name: extra}, manifest))
    assert _cache_is_empty(tmp_path / "home_b" / "hub" / "checkpoints")


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("manifest", [
    b"not json", b"\xff\xfe\x00garbage", _deep(100_000), b"[]", b'"files"', {"files": []}, {"files": None},
    {"files": {"NAME": "abc"}}, {"files": {"NAME": []}}, {"files": {"NAME": {}}},
    {"files": {"NAME": {"bytes": "1234", "sha256": "SHA"}}}, {"files": {"NAME": {"bytes": True, "sha256": "SHA"}}},
    {"files": {"NAME": {"bytes": -1, "sha256": "SHA"}}}, {"files": {"NAME": {"bytes": 1.5, "sha256": "SHA"}}},
    {"files": {"NAME": {"bytes": "SIZE", "sha256": None}}}, {"files": {"NAME": {"bytes": "SIZE", "sha256": "abc"}}},
    {"files": {"NAME": {"bytes": "SIZE", "sha256": "SHA", "backbone": ["tinynet"]}}},
    {"files": {"NAME": {"bytes": "SIZE", "sha256": "SHA", "backbone": "resnet18"}}},
    {"files": {"NAME": {"bytes": "SIZE", "sha256": "SHA"}, "other-12345678.pth": {"bytes": 1, "sha256": "SHA"}}},
    b" " * (2 << 20),
], ids=lambda m: (repr(m)[:30] if not isinstance(m, bytes) or len(m) < 100 else f"{len(m)} bytes"))
def test_a_malformed_manifest_is_one_line_not_a_traceback(home, server, tiny, tmp_path, capsys, manifest):
    data = _weights_bytes(0)
    if isinstance(manifest, dict):
        text = json.dumps(manifest).replace('"NAME"', json.dumps(tiny)).replace('"SIZE"', str(len(data)))
        manifest = text.replace('"SHA"', json.dumps(hashlib.sha256(data).hexdigest())).encode()
    path = _zip(tmp_path / "odd.zip", {tiny: data}, manifest, zipfile.ZIP_DEFLATED)
    assert main(["weights", "unpack", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "nothing was placed" in err, err
    assert _cache_is_empty(home)


def test_a_zip_holding_one_name_twice_is_refused(home, server, tiny, tmp_path):
    data = _weights_bytes(0)
    with zipfile.ZipFile(tmp_path / "twice.zip", "w") as archive:
        archive.writestr(MANIFEST, json.dumps({"files": {tiny: _entry(data)}}))
        archive.writestr(tiny, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr(tiny, bytes(len(data)))
    with pytest.raises(WeightsError, match=rf"holds {tiny} more than once"):
        unpack(tmp_path / "twice.zip")
    assert _cache_is_empty(home)


def test_fetched_and_unpacked_weights_are_readable_by_every_account_sharing_torch_home(home, server, tmp_path,
                                                                                        monkeypatch):
    """Seen: mkstemp made them 0600, so a TORCH_HOME shared by a class's accounts served only its owner."""
    previous = os.umask(0o022)
    try:
        files = _two_cached_files(monkeypatch, server, home)
        (server.root / files[0]).write_bytes((home / files[0]).read_bytes())
        (home / files[0]).unlink()
        fetch(["tinynet"], mirror=f"{server.base}/good", progress=False).__next__()
        assert (home / files[0]).stat().st_mode & 0o777 == 0o644
        pack(tmp_path / "weights.zip", ["tinynet", "smallnet"])
        assert (tmp_path / "weights.zip").stat().st_mode & 0o777 == 0o644
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home_b"))
        unpack(tmp_path / "weights.zip")
        for name in files:
            assert (tmp_path / "home_b" / "hub" / "checkpoints" / name).stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)
