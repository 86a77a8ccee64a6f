"""Decoding untrusted image bytes into RGB frames, cheaply refusing what must not be decoded.

Order of checks: base64 -> format and declared size from the header, with only the allowed
formats' plugins asked to read it (no pixel is decoded yet, so a 30000x30000 PNG costs a few
bytes of reading, and no other Pillow plugin ever parses hostile bytes) -> full decode
(truncated files fail here) -> first frame, EXIF orientation, RGB (16-bit samples scaled to
8 bits, never clipped).

Crops from the request queue (docs/contracts.md, Request message) go through :func:`open_crop`: a JPEG only, at most
``MAX_CROP_BYTES``, and exactly the embedder's square size, all checked before its pixels are
decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facepipe.exceptions import InvalidMessageError, InvalidRequestError

#: Pillow format names accepted (docs/contracts.md, Request); MPO is the multi-picture JPEG phones write.
KNOWN_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF"})
#: the only plugins ``Image.open`` may try, in this order (the JPEG plugin also opens MPO files)
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
#: crops are JPEGs (facepipe.frames writes them)
CROP_FORMATS = ("JPEG",)
#: largest crop accepted from the queue or a claim check: a 160 px JPEG at quality 95 is ~15 KB
MAX_CROP_BYTES = 512 * 1024
#: modes whose samples are 16-bit (or 32-bit integers holding 16-bit values): scaled, not clipped
_WIDE_GREY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
#: pixels per band when scaling those to 8 bits: the temporaries stay ~2 MB at any frame size
_BAND_PIXELS = 1 << 18

# Formats recognised by their magic bytes only to name them in a refusal: their plugins are
# never run on untrusted bytes.
_OTHER_FORMATS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"8BPS", "PSD"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG2000"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (0, b"qoif", "QOI"),
)


def decode_base64(content: object, field: str = "content") -> bytes:
    """Strict base64 (standard alphabet, line breaks tolerated) -> bytes."""
    if not isinstance(content, str) or not content:
        raise InvalidRequestError("invalid_field", f"'{field}' must be a non-empty base64 string")
    compact = "".join(content.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("invalid_base64", f"'{field}' is not valid base64") from None


def sniff_other_format(data: bytes) -> str | None:
    """The name of a well-known image format the request does not accept, from its magic bytes, else None."""
    for offset, magic, name in _OTHER_FORMATS:
        if data[offset : offset + len(magic)] == magic:
            return name
    if len(data) >= 3 and data[:1] == b"P" and data[1:2] in b"1234567" and data[2:3].isspace():
        return "PPM"
    if data.endswith(b"TRUEVISION-XFILE.\x00"):
        return "TGA"
    return None


def open_header(data: bytes, max_pixels: int, formats: tuple[str, ...] = _OPEN_FORMATS) -> Image.Image:
    """An image's header (format and declared size), read only by the plugins of ``formats``;
    no pixel is decoded. Refuses as :func:`open_image` does."""
    if not data:
        raise InvalidRequestError("invalid_image", "image is empty")
    try:
        # reads the header only; Pillow's own bomb guard stays on; only the allowed plugins run
        image = Image.open(io.BytesIO(data), formats=list(formats))
    except Image.DecompressionBombError as exc:
        raise InvalidRequestError(
            "image_too_large", f"image is too large to decode ({exc}); the limit is {max_pixels} pixels", 413
        ) from None
    except UnidentifiedImageError:
        other = sniff_other_format(data)
        allowed = ", ".join(sorted(set(formats)))
        if other is not None:
            raise InvalidRequestError("unsupported_format", f"image format {other} is not one of {allowed}") from None
        raise InvalidRequestError("invalid_image", f"bytes are not an image of a known format ({allowed})") from None
    except (OSError, ValueError, SyntaxError, struct.error) as exc:
        raise InvalidRequestError("invalid_image", f"bytes are not a decodable image ({exc.__class__.__name__})") from None
    if image.format not in KNOWN_FORMATS:  # a plugin may report a format other than its own name
        raise InvalidRequestError("unsupported_format", f"image format {image.format} is not one of {', '.join(sorted(KNOWN_FORMATS))}")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidRequestError("invalid_image", "image has no pixels")
    if width * height > max_pixels:
        raise InvalidRequestError("image_too_large", f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}", 413)
    return image


def to_8_bit(samples: np.ndarray) -> np.ndarray:
    """16-bit samples (any integer dtype; mode ``I``'s int32 clipped to 0-65535 first) -> uint8,
    v / 257 rounded to nearest, in integers: ``(v + 128) // 257`` (257 is odd, so no v / 257 is
    a tie). The same bytes as ``rint(clip(v, 0, 65535) / 257.0)``, without its float64 arrays."""
    wide: np.ndarray = np.clip(samples, 0, 65535).astype(np.uint32)
    wide += 128
    wide //= 257
    return wide.astype(np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB. 16-bit greyscale (modes ``I;16*``, and ``I`` as Pillow opens 16-bit PNGs) is
    scaled 0-65535 -> 0-255: ``convert("RGB")`` would clip every value above 255 to white. It is
    scaled a band of rows at a time into the RGB frame: beside the frame and its RGB copy, a few
    MB at any size (whole-frame float64 arrays would be 24 bytes a pixel, ~0.9 GB at 40 MP)."""
    if image.mode in _WIDE_GREY_MODES:
        width, height = image.size
        rgb = Image.new("RGB", image.size)
        rows = max(1, _BAND_PIXELS // max(1, width))
        for top in range(0, height, rows):
            band = np.asarray(image.crop((0, top, width, min(height, top + rows))))
            rgb.paste(Image.fromarray(to_8_bit(band), "L").convert("RGB"), (0, top))
        return rgb
    return image if image.mode == "RGB" else image.convert("RGB")  # convert() would copy an RGB image whole


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode image bytes into an RGB ``PIL.Image`` (first frame, EXIF-rotated).

    Raises ``InvalidRequestError`` with code ``invalid_image`` (400) for bytes that are
    not a complete image of a known format, ``unsupported_format`` (400) for an image of
    another format, ``image_too_large`` (413) above ``max_pixels``.
    """
    image = open_header(data, max_pixels)
    try:
        image.seek(0)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # not in place, an upright frame is copied whole
        return to_rgb(image)
    except (OSError, ValueError, SyntaxError, MemoryError, struct.error) as exc:
        raise InvalidRequestError("invalid_image", f"image data is corrupt or truncated: {exc}") from None


def open_crop(data: bytes, side: int, what: str = "crop") -> Image.Image:
    """A face crop from the queue or a claim check (docs/contracts.md, Request message): RGB, ``side`` x ``side``.

    Its byte size, format (JPEG) and declared size are checked before any pixel is decoded;
    anything else is an ``InvalidMessageError`` naming ``what`` (a crop never becomes valid
    later, so the message is dead-lettered, not retried).
    """
    if len(data) > MAX_CROP_BYTES:
        raise InvalidMessageError(f"{what} is {len(data)} bytes; a crop is at most {MAX_CROP_BYTES} bytes")
    try:
        header = open_header(data, side * side, CROP_FORMATS)
    except InvalidRequestError as exc:
        raise InvalidMessageError(f"{what}: {exc.message}; expected a {side} px square JPEG") from None
    if header.size != (side, side):
        raise InvalidMessageError(f"{what} is {header.size[0]}x{header.size[1]}, expected {side} px square")
    try:
        header.load()
        return to_rgb(header)
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise InvalidMessageError(f"{what}: JPEG data is corrupt or truncated: {exc}") from None


def encode_jpeg(image: Image.Image, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def cap_long_side(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """A copy whose long side is at most ``max_side`` and the factor from it back to ``image``."""
    long_side = max(image.size)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR), long_side / max_side
