"""The weights tool against a real HTTP server on 127.0.0.1: no test touches the internet.

The server's first path segment picks how it behaves (``good``, ``truncate``, ``stall``), and
the mirror URL is that base plus the file name, so each test names the transfer it gets.
"""

import dataclasses
import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from workbench.cli.main import main
from workbench.core.errors import WeightsError
from workbench.models import backbones
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
