"""Weights on a USB stick: ``pack`` the verified cache into one zip, ``unpack`` it on each laptop.

The zip holds the weights files and ``manifest.json`` with each one's size and SHA-256.
Unpacking trusts neither: every name must be the weights file of a backbone this workbench knows
(plain names only: no folders, no ``..``), every size must be what the manifest says and at most what
that backbone's file weighs (`max_bytes`), all before a byte is written; each file is then hashed
as it is read, stopping at the first byte past its size, and only a zip whose every file matches is
copied into temporary files and placed, so a damaged or tampered stick changes nothing on the laptop.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
import zlib
from pathlib import Path

from workbench.core.errors import WeightsError
from workbench.models.backbones import TorchvisionWeights, get_backbone
from workbench.models.weights.download import hash_prefix, reason, sha256, temporary_file
from workbench.models.weights.status import downloadable, weights_file

MANIFEST = "manifest.json"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
_MANIFEST_MAX_BYTES = 1 << 20  # a manifest names a few dozen files
# torchvision publishes each file's size in MB rounded to 3 decimals: allow that, and a little more.
_SIZE_MARGIN = 1.01
_SIZE_MARGIN_BYTES = 1 << 16


def pack(zip_path: Path, names: list[str] | None = None) -> dict[str, dict]:
    """Write the named backbones' cached weights (default: all cached) into ``zip_path``; return the manifest."""
    names = names or [name for name in downloadable() if weights_file(name).state == "cached"]
    if not names:
        raise WeightsError(f"no downloaded weights in {TorchvisionWeights.cache_dir()} to pack; "
                           f"run `workbench weights fetch NAME` (or --all) first")
    manifest = {}
    for name in names:
        path, digest = _verified_cached_file(name)
        manifest[path.name] = {"backbone": name, "bytes": path.stat().st_size, "sha256": digest}
    tmp = temporary_file(zip_path.parent, zip_path.name, fix="choose a folder you can write")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(MANIFEST, json.dumps({"files": manifest}, indent=1))
            for file_name in manifest:
                archive.write(TorchvisionWeights.cache_dir() / file_name, arcname=file_name)
        os.replace(tmp, zip_path)
    except OSError as exc:
        raise WeightsError(f"cannot write {zip_path} ({reason(exc)}); nothing was written; "
                           f"choose a folder with room for the weights") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


def _verified_cached_file(name: str) -> tuple[Path, str]:
    source = get_backbone(name).weights
    if source.shipped:
        raise WeightsError(f"{name}: its weights ship with the pip package {source.package}, "
                           f"which every laptop installs; leave it out of the pack")
    if not source.available_offline():
        raise WeightsError(f"{name}: {source.file_name} is not in {source.cache_dir()}; "
                           f"run `{source.how_to_get(name)}` before packing")
    digest = sha256(source.path)
    if not digest.startswith(hash_prefix(source.file_name)):
        raise WeightsError(f"{name}: {source.path} does not match the SHA-256 in its name, so it is not packed; "
                           f"{source.how_to_repair(name)}")
    return source.path, digest


def known_files() -> dict[str, tuple[str, int]]:
    """Every weights file a registered backbone downloads: file name -> (backbone, the most bytes it may have).

    A file whose size torchvision does not publish may be as large as the largest known one.
    """
    sources = {name: get_backbone(name).weights for name in downloadable()}
    sizes = {name: max_bytes(source) for name, source in sources.items()}
    largest = max((size for size in sizes.values() if size is not None), default=0)
    return {source.file_name: (name, sizes[name] or largest) for name, source in sources.items()}


def max_bytes(source: TorchvisionWeights) -> int | None:
    """The size a backbone's weights file may have: what torchvision publishes, plus a margin (None: unknown)."""
    try:
        return int(float(source.download_mb) * 2**20 * _SIZE_MARGIN) + _SIZE_MARGIN_BYTES
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def unpack(zip_path: Path, dest_dir: Path | None = None) -> list[str]:
    """Verify every file in a zip made by `pack`, then place them all in the cache; return their names."""
    dest_dir = dest_dir or TorchvisionWeights.cache_dir()
    again = "nothing was placed; make the zip again with `workbench weights pack` on a machine where `verify` passes"
    try:
        with zipfile.ZipFile(zip_path) as archive:
            manifest = _manifest(archive, zip_path, again)
            for file_name, entry in manifest.items():  # every file hashed before any is written
                _check_digest(zip_path, file_name, _digest(archive, file_name, entry["bytes"], zip_path, again),
                              entry, again)
            staged = _stage(archive, manifest, zip_path, dest_dir, again)
    except FileNotFoundError:
        raise WeightsError(f"{zip_path}: no such file; give the path of a zip made by `workbench weights pack`") from None
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        # (a damaged deflate stream, an unknown compression method, an encrypted member)
        raise WeightsError(f"{zip_path} is not a readable zip ({reason(exc)}); {again}") from exc
    except OSError as exc:
        raise WeightsError(f"{zip_path} cannot be unpacked ({reason(exc)}); nothing was placed") from exc
    try:
        for file_name, tmp in staged.items():
            os.replace(tmp, dest_dir / file_name)
    except OSError as exc:
        raise WeightsError(f"cannot place {file_name} in {dest_dir} ({reason(exc)}); "
                           f"set TORCH_HOME to a folder you can write") from exc
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    return list(staged)


def _manifest(archive: zipfile.ZipFile, zip_path: Path, again: str) -> dict[str, dict]:
    """The manifest's entries, after checking its shape, that the zip holds exactly those plain file names, each
    once, each the weights file of a known backbone, and each of the size the manifest gives and that file has."""
    names = archive.namelist()
    for name in names:
        if not _PLAIN_NAME.fullmatch(name):
            raise WeightsError(f"{zip_path} holds {name!r}, which is not a plain weights file name; {again}")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise WeightsError(f"{zip_path} holds {', '.join(twice)} more than once; {again}")
    files = _read_manifest(archive, zip_path, again)
    stored = set(names) - {MANIFEST}
    if set(files) != stored:
        odd = sorted(set(files) ^ stored)
        raise WeightsError(f"{zip_path}: its {MANIFEST} and its files disagree about {', '.join(odd)}; {again}")
    known = known_files()
    for file_name, entry in files.items():
        if file_name not in known:
            raise WeightsError(f"{zip_path} holds {file_name}, which is not the weights file of any backbone this "
                               f"workbench knows (`workbench weights list`); {again}")
        backbone, most = known[file_name]
        if entry.get("backbone", backbone) != backbone:
            raise WeightsError(f"{zip_path}: its {MANIFEST} says {file_name} is {str(entry['backbone'])[:40]!r}'s; "
                               f"it is {backbone}'s; {again}")
        if entry["bytes"] > most:
            raise WeightsError(f"{zip_path}: its {MANIFEST} gives {file_name} {entry['bytes']:,} bytes; {backbone}'s "
                               f"weights are at most {most:,}; {again}")
        if archive.getinfo(file_name).file_size != entry["bytes"]:
            raise WeightsError(f"{zip_path}: {file_name} is not the size its {MANIFEST} gives; {again}")
        if not entry["sha256"].startswith(hash_prefix(file_name)):
            raise WeightsError(f"{zip_path}: its {MANIFEST} gives {file_name} a SHA-256 that its name does not "
                               f"start; {again}")
    return files


def _read_manifest(archive: zipfile.ZipFile, zip_path: Path, again: str) -> dict[str, dict]:
    """``files`` of the manifest: {file name: {"bytes": int, "sha256": 64 hex digits, "backbone": name}}."""
    def refuse(what: str) -> WeightsError:
        return WeightsError(f"{zip_path}: its {MANIFEST} {what}; {again}")

    try:
        info = archive.getinfo(MANIFEST)
    except KeyError:
        raise refuse("is missing") from None
    if info.file_size > _MANIFEST_MAX_BYTES:
        raise refuse(f"is {info.file_size:,} bytes, far more than a list of weights files")
    try:
        with archive.open(info) as stream:
            data = json.loads(stream.read(_MANIFEST_MAX_BYTES + 1))
    except (ValueError, RecursionError) as exc:  # not JSON (or not UTF-8), or nested past reading
        raise refuse(f"is not readable JSON ({type(exc).__name__})") from exc
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise refuse('is not {"files": {FILE NAME: {"bytes": ..., "sha256": ...}}}')
    for file_name, entry in files.items():
        shown = file_name[:60] if _PLAIN_NAME.fullmatch(file_name[:60]) else repr(file_name[:60])
        if not isinstance(entry, dict):
            raise refuse(f"describes {shown} with {type(entry).__name__}, not its bytes and sha256")
        size, digest = entry.get("bytes"), entry.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise refuse(f"gives {shown} no size in bytes")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise refuse(f"gives {shown} no SHA-256 (64 hex digits)")
        if not isinstance(entry.get("backbone", ""), str):
            raise refuse(f"gives {shown} a backbone that is not a name")
    return files


def _digest(archive: zipfile.ZipFile, file_name: str, size: int, zip_path: Path, again: str, out=None) -> str:
    """The SHA-256 of a member, read (and written to ``out``) in chunks, refused at the first byte past ``size``
    or when it ends short of it: the sizes in a zip's directory are the zip's word, not a limit on its data."""
    digest, read = hashlib.sha256(), 0
    with archive.open(file_name) as source:
        while chunk := source.read(min(_CHUNK, size - read + 1)):
            read += len(chunk)
            if read > size:
                raise WeightsError(f"{zip_path}: {file_name} holds more than the {size:,} bytes its {MANIFEST} "
                                   f"gives; {again}")
            if out is not None:
                out.write(chunk)
            digest.update(chunk)
    if read < size:
        raise WeightsError(f"{zip_path}: {file_name} ends after {read:,} of its {size:,} bytes; {again}")
    return digest.hexdigest()


def _check_digest(zip_path: Path, file_name: str, digest: str, entry: dict, again: str) -> None:
    if digest != entry["sha256"] or not digest.startswith(hash_prefix(file_name)):
        raise WeightsError(f"{zip_path}: {file_name} does not match its SHA-256 (it starts with "
                           f"{digest[:8]}); the zip is damaged or was changed; {again}")


def _stage(archive: zipfile.ZipFile, files: dict[str, dict], zip_path: Path, dest_dir: Path,
           again: str) -> dict[str, Path]:
    """Copy each file to a temporary name beside its destination, checking it again as it is written (the zip
    could change between the two reads); on any failure remove them all."""
    staged: dict[str, Path] = {}
    try:
        for file_name, entry in files.items():
            staged[file_name] = tmp = temporary_file(dest_dir, file_name)
            with open(tmp, "wb") as out:
                digest = _digest(archive, file_name, entry["bytes"], zip_path, again, out)
            _check_digest(zip_path, file_name, digest, entry, again)
        return staged
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise
