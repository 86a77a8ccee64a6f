"""Decoding untrusted image bytes into RGB frames, cheaply refusing what must not be decoded.

Order of checks: base64 -> format and declared size from the header (no pixel is
decoded yet, so a 30000x30000 PNG costs a few bytes of reading) -> full decode
(truncated files fail here) -> first frame, EXIF orientation, RGB.
"""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, ImageOps, UnidentifiedImageError

from facepipe.exceptions import InvalidRequestError

#: Pillow format names accepted (§1.1); MPO is the multi-picture JPEG phones write.
KNOWN_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF"})


def decode_base64(content: object, field: str = "content") -> bytes:
    """Strict base64 (standard alphabet, line breaks tolerated) -> bytes."""
    if not isinstance(content, str) or not content:
        raise InvalidRequestError("invalid_field", f"'{field}' must be a non-empty base64 string")
    compact = "".join(content.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("invalid_base64", f"'{field}' is not valid base64") from None


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode image bytes into an RGB ``PIL.Image`` (first frame, EXIF-rotated).

    Raises ``InvalidRequestError`` with code ``invalid_image`` (400) for bytes that are
    not a complete image of a known format, ``image_too_large`` (413) above ``max_pixels``.
    """
    if not data:
        raise InvalidRequestError("invalid_image", "image is empty")
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only; Pillow's own bomb guard stays on
    except Image.DecompressionBombError as exc:
        raise InvalidRequestError(
            "image_too_large", f"image is too large to decode ({exc}); the limit is {max_pixels} pixels", 413
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidRequestError("invalid_image", f"bytes are not a decodable image ({exc.__class__.__name__})") from None
    if image.format not in KNOWN_FORMATS:
        raise InvalidRequestError("unsupported_format", f"image format {image.format} is not one of {', '.join(sorted(KNOWN_FORMATS))}")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidRequestError("invalid_image", "image has no pixels")
    if width * height > max_pixels:
        raise InvalidRequestError("image_too_large", f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}", 413)
    try:
        image.seek(0)
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise InvalidRequestError("invalid_image", f"image data is corrupt or truncated: {exc}") from None


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
