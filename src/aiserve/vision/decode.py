"""Decode untrusted image data: base64 or data URLs, format allow-list, pixel limits checked before any pixel is
allocated, EXIF orientation, and every mode (palette, grey, 16-bit, CMYK, alpha) brought to 8-bit RGB."""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from aiserve.errors import InvalidInput, PayloadTooLarge

ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP"})
_ALLOWED_TEXT = "JPEG, PNG, GIF, WebP or BMP"


def _invalid(reason: str) -> InvalidInput:
    return InvalidInput(f"Invalid image: {reason}", param="image")


def decode_base64(text: str) -> bytes:
    """The bytes of a base64 string or a `data:image/...;base64,` URL; line breaks are tolerated."""
    payload = text.strip()
    if payload.startswith("data:"):
        header, sep, payload = payload.partition(",")
        if not sep or not header.endswith(";base64"):
            raise _invalid("a data URL must look like data:image/png;base64,<data>.")
    payload = "".join(payload.split())
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("the data is not valid base64.") from None
    if not data:
        raise _invalid("the image is empty.")
    return data


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What `/v1/inspect` reports."""

    format: str
    size: tuple[int, int]
    mode: str


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Open (header only) and check format and size; nothing is decoded yet."""
    if not data:
        raise _invalid("the image is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise PayloadTooLarge(
            f"Invalid image: it has more pixels than the limit of {max_pixels}.", param="image"
        ) from None
    except UnidentifiedImageError:
        raise _invalid(f"not a recognised image; send {_ALLOWED_TEXT}.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise _invalid(f"cannot read it ({exc}).") from None
    if image.format not in ALLOWED_FORMATS:
        raise _invalid(f"{image.format} is not accepted; send {_ALLOWED_TEXT}.")
    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"Invalid image: {width}x{height} is {width * height} pixels, over the limit of {max_pixels}.",
            param="image",
        )
    return image


def inspect(data: bytes, *, max_pixels: int) -> ImageFacts:
    """Format, size and mode, after checking that the whole image decodes."""
    image = open_image(data, max_pixels=max_pixels)
    facts = ImageFacts(format=str(image.format), size=image.size, mode=image.mode)
    _load(image)
    return facts


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise _invalid(f"the data is truncated or corrupt ({exc}).") from None


def to_rgb(image: Image.Image, *, draft_size: int | None = None) -> Image.Image:
    """Decode (the first frame), apply EXIF orientation and convert to 8-bit RGB. `draft_size` lets JPEG decode
    at a reduced scale when the model needs far fewer pixels."""
    if draft_size and image.format in ("JPEG", "MPO"):
        image.draft("RGB", (draft_size, draft_size))
    _load(image)
    with contextlib.suppress(OSError, ValueError, SyntaxError, KeyError, TypeError):  # broken EXIF: keep the picture
        image = ImageOps.exif_transpose(image) or image
    return _rgb(image)


def _rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        pixels = np.asarray(image, dtype=np.float32)
        top = 65535.0 if mode.startswith("I") and pixels.max(initial=0) > 255 else 255.0
        if mode == "F":
            top = max(float(pixels.max(initial=1.0)), 1.0)
        grey = np.clip(pixels / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if mode == "RGB" else image.convert("RGB")


def pixels(data: bytes, *, max_pixels: int, max_side: int) -> tuple[int, int, bytes]:
    """The image's width, height and 8-bit RGB pixels (row by row), scaled down to fit `max_side` on its longer
    side; the same checks as `open_image` first."""
    image = to_rgb(open_image(data, max_pixels=max_pixels), draft_size=max_side)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    width, height = image.size
    return width, height, image.tobytes()
