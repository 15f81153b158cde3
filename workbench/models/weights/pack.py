"""Weights on a USB stick: ``pack`` the verified cache into one zip, ``unpack`` it on each laptop.

The zip holds the weights files and ``manifest.json`` with each one's size and SHA-256.
Unpacking checks every name (plain file names only: no folders, no ``..``) and every hash
into temporary files first, and places the files only when all of them are right, so a
damaged or tampered stick changes nothing on the laptop.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from pathlib import Path

from workbench.core.errors import WeightsError
from workbench.models.backbones import TorchvisionWeights, get_backbone
from workbench.models.weights.download import hash_prefix, reason, sha256, temporary_file
from workbench.models.weights.status import downloadable, weights_file

MANIFEST = "manifest.json"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CHUNK = 1 << 20


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


def unpack(zip_path: Path, dest_dir: Path | None = None) -> list[str]:
    """Verify every file in a zip made by `pack`, then place them all in the cache; return their names."""
    dest_dir = dest_dir or TorchvisionWeights.cache_dir()
    again = "nothing was placed; make the zip again with `workbench weights pack` on a machine where `verify` passes"
    try:
        with zipfile.ZipFile(zip_path) as archive:
            manifest = _manifest(archive, zip_path, again)
            staged = _stage(archive, manifest, zip_path, dest_dir, again)
    except FileNotFoundError:
        raise WeightsError(f"{zip_path}: no such file; give the path of a zip made by `workbench weights pack`") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise WeightsError(f"{zip_path} is not a readable zip ({reason(exc)}); {again}") from exc
    except OSError as exc:
        raise WeightsError(f"{zip_path} cannot be unpacked ({reason(exc)}); nothing was placed") from exc
    for file_name, tmp in staged.items():
        os.replace(tmp, dest_dir / file_name)
    return list(staged)


def _manifest(archive: zipfile.ZipFile, zip_path: Path, again: str) -> dict[str, dict]:
    """The manifest's entries, after checking that the zip holds exactly those plain file names."""
    for name in archive.namelist():
        if not _PLAIN_NAME.fullmatch(name):
            raise WeightsError(f"{zip_path} holds {name!r}, which is not a plain weights file name; {again}")
    try:
        files = json.loads(archive.read(MANIFEST))["files"]
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"{zip_path} has no readable {MANIFEST} ({type(exc).__name__}); {again}") from exc
    stored = set(archive.namelist()) - {MANIFEST}
    if set(files) != stored:
        odd = sorted(set(files) ^ stored)
        raise WeightsError(f"{zip_path}: its {MANIFEST} and its files disagree about {', '.join(odd)}; {again}")
    for file_name in files:
        hash_prefix(file_name)  # a weights file without its hash in its name could never be re-verified
    return files


def _stage(archive: zipfile.ZipFile, files: dict[str, dict], zip_path: Path, dest_dir: Path,
           again: str) -> dict[str, Path]:
    """Copy each file to a temporary name beside its destination, checking it; on any failure remove them all."""
    staged: dict[str, Path] = {}
    try:
        for file_name, entry in files.items():
            if archive.getinfo(file_name).file_size != entry.get("bytes"):
                raise WeightsError(f"{zip_path}: {file_name} is not the size its {MANIFEST} gives; {again}")
            staged[file_name] = tmp = temporary_file(dest_dir, file_name)
            digest = _copy(archive, file_name, tmp)
            if digest != entry.get("sha256") or not digest.startswith(hash_prefix(file_name)):
                raise WeightsError(f"{zip_path}: {file_name} does not match its SHA-256 (it starts with "
                                   f"{digest[:8]}); the zip is damaged or was changed; {again}")
        return staged
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise


def _copy(archive: zipfile.ZipFile, file_name: str, tmp: Path) -> str:
    digest = hashlib.sha256()
    with archive.open(file_name) as source, open(tmp, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()
