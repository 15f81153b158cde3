"""Image files to pixels, for every face: the image folder, your own photo, `predict` and `inside --photo`.

Pillow recognises a file by its content, not its name, and some of the formats it knows hand the file
to another program (EPS and PostScript to Ghostscript). So an image is opened as one of `FORMATS` only:
no other reader is even tried. Its size is checked before a pixel is decoded (`MAX_PIXELS`; a JPEG is
first decoded at a reduced scale, ``draft``, so a 50-megapixel photo costs what a 1-megapixel one does),
it is shrunk in its own mode before any conversion (16-bit, palette and alpha images included), and what
comes back is always RGB uint8, centre-cropped and resized like every training image. A file that cannot
be used is refused with `ImageRefused`: one line for a person (``str``), and a short countable
``reason`` for a folder's notes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image

from workbench.core.errors import DataError
from workbench.data.sources import resize_square

FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")
MAX_PIXELS = 16_000_000  # after a JPEG's reduced-scale decode: at most ~100 MB while decoding, any mode
ORIENTATION = 0x0112  # the EXIF tag a phone's photo is turned by
TURNS = {2: [Image.Transpose.FLIP_LEFT_RIGHT], 3: [Image.Transpose.ROTATE_180], 4: [Image.Transpose.FLIP_TOP_BOTTOM],
         5: [Image.Transpose.TRANSPOSE], 6: [Image.Transpose.ROTATE_270], 7: [Image.Transpose.TRANSVERSE],
         8: [Image.Transpose.ROTATE_90]}
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")

UNREADABLE = "unreadable, truncated or corrupt file(s), or not JPEG, PNG, BMP, GIF, WebP or TIFF"


def pixel_budget() -> int:
    """The most pixels decoded from one image (Pillow's own guard, where lowered, wins)."""
    return min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)


def too_large() -> str:
    return f"image(s) over {pixel_budget() / 1e6:g} megapixels (decompression-bomb guard); shrink them to use them"


class ImageRefused(DataError):
    """One image that cannot be used: the message names it and says what to do; ``reason`` is countable."""

    def __init__(self, name: str, reason: str):
        if reason == UNREADABLE:
            message = (f"{name} is not an image that can be read here (JPEG, PNG, BMP, GIF, WebP or TIFF), "
                       f"or it is truncated; save it as a JPEG or PNG")
        else:
            message = (f"{name} is over {pixel_budget() / 1e6:g} megapixels (decompression-bomb guard); "
                       f"shrink it to use it")
        super().__init__(message)
        self.reason = reason


def _shrink(image: Image.Image, size: int) -> Image.Image:
    """Loaded ``image`` -> a reducible mode, shrunk by a whole factor so its shorter side stays >= 2 * size."""
    if image.mode in SIXTEEN_BIT:
        image = image.convert("I")
    elif image.mode in ("P", "PA"):  # palette indices must not be averaged
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    factor = min(image.size) // (size * 2)
    return image.reduce(factor) if factor > 1 else image


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "F"):  # 16- and 32-bit: stretched to 8 bits by the image's own brightest value
        array = np.asarray(image, dtype=np.float32).clip(0, None)
        image = Image.fromarray((array * (255 / (array.max() or 1))).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
    return image.convert("RGB")


def _centre_square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def open_rgb(source: Path | str | BinaryIO, size: int, name: str | None = None) -> Image.Image:
    """An image file (a path or a binary stream) -> an RGB image upright, shrunk by a whole factor so that its
    shorter side stays at least ``2 * size``; or `ImageRefused`. Nothing but `FORMATS` is ever tried."""
    name = name or ("the image" if hasattr(source, "read") else str(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the budget below is stricter
            with Image.open(source, formats=FORMATS) as image:
                image.draft("RGB", (size * 2, size * 2))  # JPEG only: decode at 1/2, 1/4 or 1/8 scale
                if image.width * image.height > pixel_budget():
                    raise ImageRefused(name, too_large())
                image.load()
                turn = TURNS.get(image.getexif().get(ORIENTATION), [])
                small = _to_rgb(_shrink(image, size))
    except ImageRefused:
        raise
    except Image.DecompressionBombError:
        raise ImageRefused(name, too_large()) from None
    except Exception:  # noqa: BLE001 - a corrupt file makes Pillow's decoders raise many kinds of error
        raise ImageRefused(name, UNREADABLE) from None
    for method in turn:
        small = small.transpose(method)
    return small


def decode(source: Path | str | BinaryIO, size: int, name: str | None = None) -> torch.Tensor:
    """An image file (a path or a binary stream) -> uint8 (3, size, size), or `ImageRefused`."""
    array = np.asarray(_centre_square(open_rgb(source, size, name)), dtype=np.float32) / 255.0
    return resize_square(torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0), size)[0]
