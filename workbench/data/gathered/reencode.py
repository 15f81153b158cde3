"""What the server keeps of an image a student brings: its own JPEG of the picture, never the bytes uploaded.

The upload is decoded by the allow-listed decoder (`workbench.data.decode.open_rgb`: formats, pixel budget,
EXIF turn), shrunk to at most `MAX_SIDE` pixels on its long side and written anew. Whatever else the file held
(metadata, a second image, a script after the end of the picture) is gone; what is left is small and safe to
show on another student's page. Its digest finds an exact copy; its perceptual hash a near one.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO

import imagehash
from PIL import Image

from workbench.data.decode import open_rgb

MAX_SIDE = 512
QUALITY = 90
SUFFIX = ".jpg"


@dataclass(frozen=True)
class Encoded:
    data: bytes  # the JPEG the server keeps
    digest: str  # sha256 of the picture's pixels: the same picture uploaded twice has the same digest
    phash: str  # perceptual hash (64 bits, hex): near-copies differ in a few bits


def reencode(source: bytes | BinaryIO, name: str) -> Encoded:
    """An uploaded file -> `Encoded`, or `workbench.data.decode.ImageRefused` naming ``name``."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    image = open_rgb(stream, MAX_SIDE // 2, name)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=QUALITY, optimize=True)
    return Encoded(out.getvalue(), hashlib.sha256(image.tobytes()).hexdigest(), str(imagehash.phash(image)))


def perceptual_hash(path) -> str:
    """A kept image's perceptual hash (for a file put in a dataset's folder by hand: decoded like any other)."""
    return str(imagehash.phash(open_rgb(path, 64)))
