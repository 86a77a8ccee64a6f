"""images (the request's image, docs/contracts.md): strict base64,
decoding untrusted bytes into RGB frames, refusing what must not be decoded."""

from __future__ import annotations

import io
import struct
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from facepipe.exceptions import InvalidMessageError, InvalidRequestError
from facepipe.images import MAX_CROP_BYTES, cap_long_side, decode_base64, open_crop, open_image, to_8_bit, to_rgb
from helpers import encode, handmade_png

LIMIT = 40_000_000  # the default MAX_IMAGE_PIXELS


# --------------------------------------------------------------------------- factories


def sixteen_bit_png(width: int, height: int, channels: int) -> bytes:
    """A valid 16-bit-per-channel PNG (RGB: 48-bit, RGBA: 64-bit pixels), which Pillow cannot write."""
    colour_type = {3: 2, 4: 6}[channels]
    row = b"\x00" + b"\x80\x00" * channels * width  # filter byte 0, then big-endian samples
    return handmade_png(width, height, bit_depth=16, colour_type=colour_type, rows=row * height)


def two_colour(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: orientation is visible in the pixels."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return image


def near(pixel: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


@pytest.fixture
def load_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Spy on ``Image.Image.load`` (every plugin's pixel decode goes through it): the sizes it decoded."""
    calls: list[tuple[int, int]] = []
    real_load = Image.Image.load

    def spy(self: Image.Image):
        calls.append(self.size)
        return real_load(self)

    monkeypatch.setattr(Image.Image, "load", spy)
    return calls


def refused(data: bytes, max_pixels: int = LIMIT) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        open_image(data, max_pixels)
    return caught.value


# --------------------------------------------------------------------------- decode_base64


def test_decode_base64_valid_returns_bytes() -> None:
    # GIVEN standard base64 of some bytes
    # WHEN it is decoded
    # THEN the original bytes come back
    assert decode_base64("aGVsbG8gd29ybGQ=") == b"hello world"


def test_decode_base64_whitespace_and_newlines_tolerated() -> None:
    # GIVEN base64 wrapped at 4 characters with spaces, tabs and CRLF (as MIME encoders do)
    text = "aGVs\nbG8g\r\nd29y  bGQ=\t\n"
    # WHEN / THEN it decodes like the compact form
    assert decode_base64(text) == b"hello world"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("aGVsbG8*", id="star"),
        pytest.param("aGVs bG8g-_8=", id="urlsafe-alphabet"),
        pytest.param("aGVsbG8", id="bad-padding"),
        pytest.param("data:image/jpeg;base64,aGVsbG8=", id="data-uri"),
        pytest.param("aGVs\x00bG8=", id="nul"),
        pytest.param("ａＧＶｓ", id="fullwidth"),
    ],
)
def test_decode_base64_invalid_chars_raise_invalid_base64(text: str) -> None:
    # GIVEN text outside the strict standard alphabet / padding
    # WHEN it is decoded
    with pytest.raises(InvalidRequestError) as caught:
        decode_base64(text)
    # THEN the error is invalid_base64 (400) and names the field
    assert (caught.value.code, caught.value.status) == ("invalid_base64", 400)
    assert "'content'" in caught.value.message


@pytest.mark.parametrize("value", ["", None, 123, b"aGVsbG8=", ["aGVsbG8="], {"b64": "aGVsbG8="}], ids=repr)
def test_decode_base64_empty_or_not_a_string_raises_invalid_field(value: object) -> None:
    # GIVEN an empty string or a value that is not a string
    # WHEN it is decoded for the field "photo"
    with pytest.raises(InvalidRequestError) as caught:
        decode_base64(value, field="photo")
    # THEN the error is invalid_field (400) and names that field
    assert (caught.value.code, caught.value.status) == ("invalid_field", 400)
    assert "'photo'" in caught.value.message


# --------------------------------------------------------------------------- open_image: accepted formats


def test_open_image_jpeg_decodes_to_rgb(grace_hopper_bytes: bytes, grace_hopper: Image.Image) -> None:
    # GIVEN the bytes of a real JPEG portrait
    # WHEN they are opened
    image = open_image(grace_hopper_bytes, LIMIT)
    # THEN an RGB image of the same size comes back
    assert image.mode == "RGB"
    assert image.size == grace_hopper.size == (512, 600)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_open_image_png_modes_decode_to_rgb(mode: str) -> None:
    # GIVEN a PNG written from an image in ``mode`` (RGBA: 32-bit pixels; I;16: 16-bit grey)
    data = encode(two_colour().convert(mode), "PNG")
    assert Image.open(io.BytesIO(data)).mode == mode  # the file really is in that mode
    # WHEN it is opened
    image = open_image(data, LIMIT)
    # THEN it is RGB with the original size
    assert (image.mode, image.size) == ("RGB", (40, 20))


def test_open_image_png_rgba_keeps_colour() -> None:
    # GIVEN an RGBA PNG, half transparent
    source = two_colour().convert("RGBA")
    source.putalpha(128)
    # WHEN it is opened
    image = open_image(encode(source, "PNG"), LIMIT)
    # THEN alpha is dropped and the colours stay where they were
    assert image.mode == "RGB"
    assert image.getpixel((5, 5)) == (255, 0, 0)
    assert image.getpixel((35, 5)) == (0, 0, 255)


@pytest.mark.parametrize("channels", [3, 4], ids=["rgb-48bit", "rgba-64bit"])
def test_open_image_png_sixteen_bit_channels_decode_to_rgb(channels: int) -> None:
    # GIVEN a 16-bit-per-channel PNG (samples 0x8000, mid grey)
    data = sixteen_bit_png(6, 4, channels)
    # WHEN it is opened
    image = open_image(data, LIMIT)
    # THEN it is an 8-bit RGB image of the same size, still mid grey
    assert (image.mode, image.size) == ("RGB", (6, 4))
    assert near(image.getpixel((0, 0)), (128, 128, 128), tolerance=1)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        pytest.param("WEBP", {"lossless": True}, id="webp"),
        pytest.param("BMP", {}, id="bmp-24bit"),
        pytest.param("PNG", {}, id="png"),
        pytest.param("GIF", {}, id="gif"),
        pytest.param("JPEG", {"quality": 95}, id="jpeg"),
    ],
)
def test_open_image_known_formats_decode_pixels(fmt: str, params: dict) -> None:
    # GIVEN a red|blue image saved as ``fmt``
    data = encode(two_colour(), fmt, **params)
    # WHEN it is opened
    image = open_image(data, LIMIT)
    # THEN it is RGB, same size, and the halves keep their colours
    assert (image.mode, image.size) == ("RGB", (40, 20))
    assert near(image.getpixel((5, 10)), (255, 0, 0))
    assert near(image.getpixel((34, 10)), (0, 0, 255))


def test_open_image_bmp_32bit_decodes_to_rgb() -> None:
    # GIVEN a 32-bit BMP (written from RGBA)
    data = encode(two_colour().convert("RGBA"), "BMP")
    assert struct.unpack_from("<H", data, 28) == (32,)  # biBitCount
    # WHEN / THEN it decodes to RGB
    image = open_image(data, LIMIT)
    assert (image.mode, image.size) == ("RGB", (40, 20))
    assert image.getpixel((5, 5)) == (255, 0, 0)


def test_open_image_animated_gif_returns_first_frame() -> None:
    # GIVEN an animated GIF: a red frame then a green and a blue one
    frames = [Image.new("RGB", (16, 12), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    # WHEN it is opened
    image = open_image(data, LIMIT)
    # THEN the first (red) frame comes back as RGB
    assert (image.mode, image.size) == ("RGB", (16, 12))
    assert image.getpixel((8, 6)) == (255, 0, 0)


def test_open_image_exif_orientation_is_applied() -> None:
    # GIVEN a 40x20 JPEG (red left, blue right) tagged EXIF Orientation=6 ("rotate 90° clockwise to view")
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(two_colour((40, 20)), "JPEG", exif=exif, quality=95)
    assert Image.open(io.BytesIO(data)).size == (40, 20)
    # WHEN it is opened
    image = open_image(data, LIMIT)
    # THEN it is upright: 20x40, the left (red) half now on top
    assert image.size == (20, 40)
    assert near(image.getpixel((10, 5)), (255, 0, 0))
    assert near(image.getpixel((10, 35)), (0, 0, 255))


def sixteen_bit_grey_png(samples: np.ndarray) -> bytes:
    """A 16-bit greyscale PNG (Pillow opens it as mode I;16) of ``samples`` (uint16, rows x columns)."""
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)
    height, width = samples.shape
    return handmade_png(width, height, bit_depth=16, colour_type=0, rows=rows)


@pytest.mark.parametrize(
    ("sample", "grey"),
    [
        pytest.param(0x0000, 0, id="black"),
        pytest.param(0x1000, 16, id="dark"),
        pytest.param(0x8000, 128, id="mid-grey"),
        pytest.param(0xC0C0, 192, id="light"),
        pytest.param(0xFFFF, 255, id="white"),
    ],
)
def test_open_image_sixteen_bit_grey_png_is_scaled_not_clipped(sample: int, grey: int) -> None:
    # GIVEN a 16-bit greyscale PNG of one sample value (above 255: convert("RGB") clips it to white)
    data = sixteen_bit_grey_png(np.full((4, 6), sample, dtype=np.uint16))
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I;16B", "I")
    # WHEN it is opened
    image = open_image(data, LIMIT)
    # THEN it is 8-bit RGB with the sample scaled from 0-65535 to 0-255
    assert (image.mode, image.size) == ("RGB", (6, 4))
    assert near(image.getpixel((3, 2)), (grey, grey, grey), tolerance=1)


def test_open_image_sixteen_bit_grey_gradient_keeps_its_contrast() -> None:
    # GIVEN a 16-bit grey gradient across the whole range (a face in a 16-bit scan would be one)
    gradient = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    # WHEN it is opened
    pixels = np.asarray(open_image(sixteen_bit_grey_png(gradient), LIMIT))[..., 0]
    # THEN the 8-bit image still runs from black to white, monotonically, not mostly white
    assert pixels[0, 0] == 0
    assert pixels[0, -1] == 255
    assert np.all(np.diff(pixels[0].astype(int)) >= 0)
    assert (pixels == 255).mean() < 0.05


def float_formula(samples: np.ndarray) -> np.ndarray:
    """16 -> 8 bits as facepipe first did it, in float64: the reference the integer arithmetic must equal."""
    return np.rint(np.clip(samples.astype(np.float64), 0, 65535) / 257.0).astype(np.uint8)


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "<i4"], ids=["I;16", "I;16B", "I"])
def test_to_8_bit_equals_the_float_formula_for_every_sixteen_bit_value(dtype: str) -> None:
    # GIVEN every 16-bit value, as each wide grey mode's samples come out of numpy (v / 257 is never a tie)
    samples = np.arange(65536).astype(dtype)
    # WHEN / THEN the integer scaling gives the float formula's bytes, value for value
    assert np.array_equal(to_8_bit(samples), float_formula(samples))


def test_to_8_bit_clips_mode_i_values_outside_sixteen_bits() -> None:
    # GIVEN mode I's int32 samples below 0 and above 65535
    samples = np.array([-(2**31), -65536, -1, 0, 65535, 65536, 65792, 10**6, 2**31 - 1], dtype=np.int32)
    # WHEN they are scaled
    scaled = to_8_bit(samples)
    # THEN they are clipped first, as the float formula does: black below, white above
    assert np.array_equal(scaled, float_formula(samples))
    assert scaled.tolist() == [0, 0, 0, 0, 255, 255, 255, 255, 255]


@pytest.mark.parametrize(("mode", "dtype"), [("I;16", "<u2"), ("I;16B", ">u2"), ("I", "<i4")])
def test_to_rgb_scales_wide_grey_band_by_band_as_the_whole_frame(mode: str, dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a frame holding every 16-bit value (and in mode I some outside), cut in bands of 3 rows
    values = np.arange(-512, 65536 + 512, dtype=np.int32).reshape(-1, 256)
    samples = values if mode == "I" else np.clip(values, 0, 65535)
    image = Image.frombytes(mode, (256, len(values)), samples.astype(dtype).tobytes())
    monkeypatch.setattr("facepipe.images._BAND_PIXELS", 3 * 256 + 5)
    # WHEN it is made RGB
    rgb = np.asarray(to_rgb(image))
    # THEN every band is scaled and in its place: each channel is the float formula over the whole frame
    assert rgb.shape == (*values.shape, 3)
    for channel in range(3):
        assert np.array_equal(rgb[..., channel], float_formula(values))


def test_open_image_sixteen_bit_grey_png_every_value_as_the_float_formula() -> None:
    # GIVEN a 16-bit greyscale PNG of every 16-bit value
    samples = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    # WHEN it is opened
    pixels = np.asarray(open_image(sixteen_bit_grey_png(samples), LIMIT))
    # THEN each is grey, its level the float formula's
    assert np.array_equal(pixels, np.repeat(float_formula(samples)[..., None], 3, axis=2))


def test_open_image_sixteen_bit_grey_png_needs_no_whole_frame_temporaries() -> None:
    # GIVEN a 3 MP 16-bit greyscale PNG (a 40 MP one took ~0.9 GB of float64 arrays: 24 bytes a pixel)
    width, height = 2048, 1536
    ramp = np.linspace(0, 65535, width * height).astype(np.uint16).reshape(height, width)
    data = sixteen_bit_grey_png(ramp)
    # WHEN it is opened with tracemalloc on (numpy's arrays and Python's bytes are traced; Pillow's frames are not)
    tracemalloc.start()
    try:
        image = open_image(data, LIMIT)
        peak = tracemalloc.get_traced_memory()[1]
        # control: the float formula on the decoded samples, measured the same way
        tracemalloc.reset_peak()
        float_formula(np.asarray(Image.open(io.BytesIO(data))))
        float_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # THEN beside the frame and its RGB copy, less than a byte a pixel (a few MB of bands); the floats took more than 8
    assert image.size == (width, height)
    assert peak < width * height
    assert float_peak > 8 * width * height


# --------------------------------------------------------------------------- open_image: refusals


def test_open_image_truncated_jpeg_raises_invalid_image(grace_hopper_bytes: bytes) -> None:
    # GIVEN a real JPEG cut off in the middle of its scan data
    data = grace_hopper_bytes[: len(grace_hopper_bytes) // 2]
    # WHEN / THEN it is refused as invalid_image (400)
    error = refused(data)
    assert (error.code, error.status) == ("invalid_image", 400)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(bytes(range(256)) * 8, id="random-bytes"),
        pytest.param(b"%PDF-1.7\n" + b"0" * 100, id="pdf-header"),
        pytest.param(b"\x89PNG\r\n\x1a\n", id="png-signature-only"),
        pytest.param(b"", id="empty"),
    ],
)
def test_open_image_not_an_image_raises_invalid_image(data: bytes) -> None:
    # GIVEN bytes that are not an image
    # WHEN / THEN they are refused as invalid_image (400)
    error = refused(data)
    assert (error.code, error.status) == ("invalid_image", 400)


@pytest.mark.parametrize("fmt", ["TIFF", "PPM", "TGA"])
def test_open_image_unknown_format_raises_unsupported_format(fmt: str) -> None:
    # GIVEN a well-formed image in a format the request contract does not list
    data = encode(two_colour(), fmt)
    # WHEN / THEN it is refused as unsupported_format (400), naming the format
    error = refused(data)
    assert (error.code, error.status) == ("unsupported_format", 400)
    assert fmt in error.message


@pytest.mark.parametrize("fmt", ["TIFF", "PPM", "TGA"])
def test_open_image_other_formats_are_never_parsed_by_their_plugin(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a well-formed image in a format the request contract does not list, and a spy on that format's plugin
    data = encode(two_colour(), fmt)
    Image.init()
    factory, _accept = Image.OPEN[fmt]
    opened: list[str] = []
    real_open = factory._open

    def spy(self: Image.Image) -> None:
        opened.append(fmt)
        real_open(self)

    monkeypatch.setattr(factory, "_open", spy)
    # WHEN it is opened
    refused(data)
    # THEN its plugin never ran on the untrusted bytes (only the allow-list's plugins were asked)
    assert opened == []
    Image.open(io.BytesIO(data))  # control: the spy does see a plain Image.open
    assert opened == [fmt]


def test_open_image_declared_huge_png_refused_without_decoding(load_calls: list) -> None:
    # GIVEN a 100-byte PNG whose IHDR declares 12000x12000 (144 Mpx: over our limit, under Pillow's hard stop)
    data = handmade_png(12000, 12000)
    with pytest.warns(Image.DecompressionBombWarning):  # Pillow's own guard is on for the process
        header = Image.open(io.BytesIO(data))
    assert (header.format, header.size) == ("PNG", (12000, 12000))
    # WHEN it is opened with the 40 Mpx limit
    error = refused(data)
    # THEN it is image_too_large (413), and no pixel was decoded
    assert (error.code, error.status) == ("image_too_large", 413)
    assert "12000x12000" in error.message
    assert load_calls == []


def test_open_image_bomb_beyond_pillows_guard_is_413_too(load_calls: list) -> None:
    # GIVEN a PNG that declares 30000x30000 (900 Mpx), beyond Pillow's own DecompressionBombError
    error = refused(handmade_png(30000, 30000))
    # THEN our caller still gets image_too_large (413), not a crash, and nothing was decoded
    assert (error.code, error.status) == ("image_too_large", 413)
    assert load_calls == []
    assert Image.MAX_IMAGE_PIXELS is not None  # the guard is not switched off for the process


def test_open_image_load_spy_sees_a_normal_decode(load_calls: list) -> None:
    # GIVEN the spy of the test above (control: it must see real decodes, or that test proves nothing)
    # WHEN a small PNG is opened
    open_image(encode(two_colour(), "PNG"), LIMIT)
    # THEN the spy recorded the pixel decode
    assert (40, 20) in load_calls


def test_open_image_limit_is_width_times_height() -> None:
    # GIVEN a real 200x100 PNG (20000 px)
    data = encode(two_colour((200, 100)), "PNG")
    # WHEN the limit is exactly its pixel count, THEN it is accepted
    assert open_image(data, 20_000).size == (200, 100)
    # WHEN the limit is one pixel less, THEN it is image_too_large (413)
    error = refused(data, 19_999)
    assert (error.code, error.status) == ("image_too_large", 413)


def test_open_image_declared_2500_megapixel_png_is_image_too_large() -> None:
    # GIVEN a PNG declaring 50000x50000 (2.5 Gpx: above 2**31-1, below twice that)
    # WHEN / THEN it is too large (413), like the 30000x30000 one
    error = refused(handmade_png(50000, 50000))
    assert (error.code, error.status) == ("image_too_large", 413)


def test_open_image_declared_10_gigapixel_png_is_image_too_large() -> None:
    # GIVEN a PNG declaring 100000x100000 (10 Gpx)
    # WHEN / THEN it is refused as image_too_large (413)
    error = refused(handmade_png(100000, 100000))
    assert (error.code, error.status) == ("image_too_large", 413)


# --------------------------------------------------------------------------- open_crop


def test_open_crop_jpeg_of_the_right_size_decodes_to_rgb() -> None:
    # GIVEN a 160 px square JPEG crop
    data = encode(two_colour((160, 160)), "JPEG")
    # WHEN it is opened for a 160 px embedder
    crop = open_crop(data, 160)
    # THEN it comes back as RGB pixels
    assert (crop.mode, crop.size) == ("RGB", (160, 160))
    assert near(crop.getpixel((20, 80)), (255, 0, 0))


def test_open_crop_wrong_size_refused_before_decoding(load_calls: list) -> None:
    # GIVEN a JPEG crop of another size (a 4000 px one, say)
    data = encode(Image.new("RGB", (4000, 4000)), "JPEG")
    load_calls.clear()
    # WHEN / THEN it is a permanent message error, and no pixel was decoded
    with pytest.raises(InvalidMessageError, match="face 3 crop"):
        open_crop(data, 160, "face 3 crop")
    assert load_calls == []


def test_open_crop_declared_bomb_refused_before_decoding(load_calls: list) -> None:
    # GIVEN a few bytes declaring a 30000x30000 image
    # WHEN / THEN it is refused without any decode
    with pytest.raises(InvalidMessageError):
        open_crop(handmade_png(30000, 30000), 160)
    assert load_calls == []


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "WEBP"])
def test_open_crop_only_jpeg_is_a_crop(fmt: str) -> None:
    # GIVEN a crop of the right size in another allowed frame format
    data = encode(two_colour((160, 160)), fmt)
    # WHEN / THEN it is refused: crops are JPEGs (facepipe.frames writes them)
    with pytest.raises(InvalidMessageError, match="JPEG"):
        open_crop(data, 160)


def test_open_crop_too_many_bytes_refused_before_parsing() -> None:
    # GIVEN a crop larger than MAX_CROP_BYTES (a JPEG with a huge trailer)
    data = encode(two_colour((160, 160)), "JPEG") + b"\x00" * MAX_CROP_BYTES
    # WHEN / THEN it is refused by its length
    with pytest.raises(InvalidMessageError, match=f"at most {MAX_CROP_BYTES} bytes"):
        open_crop(data, 160)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff", bytes(range(256))], ids=["empty", "jpeg-magic-only", "garbage"])
def test_open_crop_not_a_jpeg_refused(data: bytes) -> None:
    with pytest.raises(InvalidMessageError):
        open_crop(data, 160)


def test_open_crop_truncated_jpeg_refused() -> None:
    # GIVEN a real crop cut inside its scan data
    noise = Image.effect_noise((160, 160), 64).convert("RGB")
    data = encode(noise, "JPEG", quality=90)
    # WHEN / THEN it is refused as corrupt
    with pytest.raises(InvalidMessageError):
        open_crop(data[: len(data) * 3 // 5], 160)


# --------------------------------------------------------------------------- cap_long_side


@pytest.mark.parametrize(
    ("size", "max_side", "capped", "scale"),
    [
        pytest.param((400, 200), 100, (100, 50), 4.0, id="landscape"),
        pytest.param((300, 900), 450, (150, 450), 2.0, id="portrait"),
        pytest.param((1000, 3), 100, (100, 1), 10.0, id="thin-keeps-one-pixel"),
        pytest.param((1023, 767), 1024, (1023, 767), 1.0, id="already-small"),
        pytest.param((1024, 10), 1024, (1024, 10), 1.0, id="exactly-at-limit"),
    ],
)
def test_cap_long_side_keeps_aspect_and_returns_scale(size, max_side, capped, scale) -> None:
    # GIVEN an image of ``size``
    image = Image.new("RGB", size)
    # WHEN its long side is capped
    small, factor = cap_long_side(image, max_side)
    # THEN the copy fits, keeps the aspect ratio, and ``factor`` maps it back to the original
    assert small.size == capped
    assert max(small.size) <= max_side
    assert factor == pytest.approx(scale)
    assert small.width * factor == pytest.approx(size[0], abs=factor)
    assert small.height * factor == pytest.approx(size[1], abs=factor)


def test_cap_long_side_small_image_is_returned_unchanged() -> None:
    # GIVEN an image already under the cap
    image = Image.new("RGB", (64, 48))
    # WHEN / THEN the same object comes back with factor 1
    small, factor = cap_long_side(image, 1024)
    assert small is image
    assert factor == 1.0


def test_cap_long_side_does_not_modify_the_original() -> None:
    # GIVEN a large image
    image = two_colour((2000, 1000))
    # WHEN it is capped
    small, _ = cap_long_side(image, 500)
    # THEN the original keeps its size and the copy its content (red left, blue right)
    assert image.size == (2000, 1000)
    assert small.size == (500, 250)
    assert near(small.getpixel((10, 100)), (255, 0, 0))
    assert near(small.getpixel((490, 100)), (0, 0, 255))
