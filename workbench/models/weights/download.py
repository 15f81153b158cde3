"""Verified downloads of weights files: nothing unverified ever lands in the cache.

torchvision names each weights file after the first hex digits of its SHA-256
(``resnet18-f37072fd.pth``), so a file can be checked with nothing but its name. A
download streams into a temporary file next to its destination, is hashed as it arrives,
and is renamed into place only when it is complete and its hash matches; any failure
(no network, a stall, a truncated or corrupt transfer, Ctrl-C) removes the temporary file.
A school's own server can stand in for the upstream host (``WORKBENCH_WEIGHTS_MIRROR``).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.request
from http.client import HTTPException
from pathlib import Path
from urllib.error import HTTPError

from workbench.core import settings
from workbench.core.errors import WeightsError
from workbench.core.files import temporary_beside

MIRROR_ENV = settings.MIRROR_ENV
TIMEOUT_S = 30.0  # a server silent this long is treated as gone
_CHUNK = 1 << 20
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")  # torch.hub's convention, at least 8 digits


def hash_prefix(file_name: str) -> str:
    """The SHA-256 prefix a weights file's name promises."""
    match = _HASH_IN_NAME.search(file_name)
    if match is None:
        raise WeightsError(f"{file_name} carries no SHA-256 prefix in its name, so it cannot be verified; "
                           f"use the file name torchvision gives it (name-<hash>.pth)")
    return match.group(1)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verifies(path: Path) -> bool:
    """Whether the file's SHA-256 starts with the prefix in its name."""
    return sha256(path).startswith(hash_prefix(path.name))


def source_url(file_name: str, upstream: str, mirror: str | None = None) -> str:
    """Where to download from: ``mirror/file_name`` when a mirror is given or set, else upstream."""
    mirror = mirror or settings.weights_mirror()
    return f"{mirror.rstrip('/')}/{file_name}" if mirror else upstream


def _urlopen(url: str):
    return urllib.request.urlopen(url, timeout=TIMEOUT_S)


def download(file_name: str, upstream: str, dest_dir: Path, mirror: str | None = None,
             progress: bool = True) -> Path:
    """Download ``file_name`` into ``dest_dir``, verified, or leave nothing there and raise."""
    url = source_url(file_name, upstream, mirror)
    expected = hash_prefix(file_name)
    tmp = temporary_file(dest_dir, file_name)
    kept = f"nothing was saved in {dest_dir}"
    try:
        try:
            with open(tmp, "wb") as out:
                received, length, digest = _stream(url, file_name, out, progress)
        except (OSError, HTTPException) as exc:
            other = f"set {MIRROR_ENV}=URL to use a school's server" if url == upstream else "check the mirror serves it"
            raise WeightsError(f"{file_name} could not be downloaded from {url} ({reason(exc)}); {kept}; "
                               f"place {file_name} there by hand, or {other}") from exc
        if length is not None and received < length:
            raise WeightsError(f"{file_name}: the transfer from {url} stopped after {received:,} of "
                               f"{length:,} bytes; {kept}; run the command again")
        if not digest.startswith(expected):
            raise WeightsError(f"{file_name} from {url} is corrupt: its SHA-256 starts with {digest[:8]}, "
                               f"not {expected}; {kept}; download again, or replace the file on the mirror")
        os.replace(tmp, dest_dir / file_name)
        return dest_dir / file_name
    finally:
        tmp.unlink(missing_ok=True)


def temporary_file(dest_dir: Path, file_name: str, fix: str = "set TORCH_HOME to a folder you can write") -> Path:
    """An empty hidden file beside the destination, so the final rename is atomic; readable as any new file
    is (0666 less the umask), so a ``TORCH_HOME`` shared by several accounts serves them all."""
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, name = temporary_beside(dest_dir, file_name, suffix=".partial")
    except OSError as exc:
        raise WeightsError(f"cannot write {file_name} to {dest_dir} ({reason(exc)}); {fix}") from exc
    os.close(fd)
    return name


def _stream(url: str, file_name: str, out, progress: bool) -> tuple[int, int | None, str]:
    """Copy the response into ``out``; return bytes received, bytes announced and the SHA-256.

    The progress bar shows only on a terminal (``disable=None``), so logs and tests stay clean.
    """
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    received = 0
    with _urlopen(url) as response:
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None else None
        with tqdm(total=length, desc=file_name, unit="B", unit_scale=True, unit_divisor=1024,
                  file=sys.stderr, disable=None if progress else True, leave=False) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    return received, length, digest.hexdigest()


def reason(exc: Exception) -> str:
    """What went wrong, on one line: the HTTP status, the OS error, or at least the exception's name."""
    if isinstance(exc, HTTPError):
        text = f"HTTP {exc.code} {exc.reason}"
    else:
        text = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the server or the OS said
