"""Property-based fuzzing (hypothesis): profiles, a runner that counts examples, and strategies.

Profiles, chosen by ``FACEPIPE_FUZZ_PROFILE``:

* ``test`` (default, ``make test``): ``FUZZ_EXAMPLES`` (1,000) examples per input class;
* ``fuzz`` (``make fuzz``): 50,000 per class (``FACEPIPE_FUZZ_EXAMPLES`` overrides), with the
  example database in ``.hypothesis/`` so failures found once are replayed first.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import b64, encode, handmade_png

FUZZ_EXAMPLES = 1000
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile("test", max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=_SLOW_OK, database=None, print_blob=True)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FACEPIPE_FUZZ_EXAMPLES", "50000")),
    deadline=None,
    suppress_health_check=_SLOW_OK,
    print_blob=True,
)
PROFILE = os.environ.get("FACEPIPE_FUZZ_PROFILE", "test")
FUZZ = settings.get_profile(PROFILE)


def fuzz(strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> int:
    """Run ``check`` on examples of ``strategy`` under the selected profile; the number run.

    The caller asserts the number, so a profile or strategy that quietly runs fewer examples
    than it promises fails the test."""
    count = 0

    @FUZZ
    @given(strategy)
    def run(example: Any) -> None:
        nonlocal count
        count += 1
        check(example)

    run()
    print(f"\n{check.__name__}: {count} examples (profile {PROFILE})")
    return count


# --------------------------------------------------------------------------- building blocks

#: any JSON value, small
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def nested(depth: int, opener: str = "[") -> str:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return '{"a":' * depth + "1" + "}" * depth
    return opener * depth + closer * depth


#: JSON text nested far beyond the parser's recursion limit (the ``[[[[…`` 200 000 deep attack), whole or cut off
deep_json = st.builds(
    lambda depth, opener, cut: nested(depth, opener)[: None if cut == 0 else -cut],
    st.integers(900, 250_000),
    st.sampled_from(["[", "{"]),
    st.integers(0, 3),
)
#: text that is almost JSON: numbers JSON does not have, cut-off objects, stray bytes
odd_json = st.sampled_from(
    ["NaN", "[Infinity]", "-Infinity", "[1e999]", '{"a": 1e400}', "1" * 5000, "{", '{"a":', "[1,]", "\ufeff{}", "{}", "[]", '""', "null"]
)


def image_samples() -> list[bytes]:
    """Image bytes of every kind the detection side must handle: decodable frames without a face,
    and refusals (truncated, other formats, declared bombs)."""
    plain = Image.new("RGB", (48, 32), (90, 120, 150))
    jpeg = encode(plain, "JPEG")
    return [
        jpeg,
        encode(plain, "PNG"),
        encode(plain.convert("L"), "PNG"),
        encode(plain, "GIF"),
        encode(plain, "BMP"),
        encode(plain, "WEBP"),
        handmade_png(16, 8, bit_depth=16, colour_type=0, rows=(b"\x00" + b"\x80\x00" * 16) * 8),  # 16-bit grey
        jpeg[: len(jpeg) // 2],
        encode(plain, "TIFF"),
        encode(plain, "PPM"),
        handmade_png(30000, 30000),  # declared bombs
        handmade_png(100000, 100000),
        b"GIF89a" + b"\x00" * 20,
        b"\x89PNG\r\n\x1a\n",
    ]


IMAGES = image_samples()
#: bytes that start like an image and go on randomly (every plugin's header parser meets junk)
mutated_images = st.builds(
    lambda image, cut, junk: image[:cut] + junk,
    st.sampled_from(IMAGES),
    st.integers(0, 64),
    st.binary(max_size=200),
)
content_values = st.one_of(
    st.sampled_from(IMAGES).map(b64),
    mutated_images.map(b64),
    st.binary(max_size=300).map(b64),
    st.text(max_size=50),
    json_values,
)
request_ids = st.one_of(
    st.text(string.ascii_letters + string.digits + "._:-", min_size=1, max_size=140),
    st.text(max_size=20),
    json_values,
)
filenames = st.one_of(st.just("frame.jpg"), st.text(max_size=300), json_values)
sources = st.one_of(st.just("door"), st.text(string.ascii_letters + "/:._-", max_size=140), json_values)
timestamps = st.one_of(st.just("2026-01-01T00:00:00Z"), st.text(max_size=40), json_values)
_FIELDS = ("request_id", "content", "filename", "source", "captured_at")


@st.composite
def frame_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A function URL request body with each field missing, right, or of any shape, and extra keys."""
    strategies = {"request_id": request_ids, "content": content_values, "filename": filenames, "source": sources, "captured_at": timestamps}
    body: dict[str, Any] = {}
    for name in _FIELDS:
        if draw(st.integers(0, 5)) > 0 or (name in ("source", "captured_at") and draw(st.booleans())):
            body[name] = draw(strategies[name])
    body.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return body


@st.composite
def nearly_valid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid function URL request body (a decodable frame, no face) with at most one field replaced by anything."""
    body: dict[str, Any] = {
        "request_id": draw(st.text(string.ascii_letters + string.digits + "._:-", min_size=1, max_size=128)),
        "content": b64(draw(st.sampled_from(IMAGES[:7]))),
        "filename": draw(st.text(string.ascii_letters + ".", min_size=1, max_size=40)),
    }
    if draw(st.booleans()):
        body["source"] = draw(st.text(string.ascii_letters + "/:._-", min_size=1, max_size=128))
    if draw(st.booleans()):
        name = draw(st.sampled_from(_FIELDS))
        body[name] = draw(st.one_of(json_values, st.text(max_size=30)))
    return body


def _dump(body: Any) -> str:
    return json.dumps(body)


#: what a function URL body may be: a body object, any JSON, deep nesting, odd JSON, or any text
body_texts = st.one_of(
    frame_bodies().map(_dump),
    nearly_valid_bodies().map(_dump),
    json_values.map(_dump),
    deep_json,
    odd_json,
    st.text(max_size=200),
)


@st.composite
def url_events(draw: st.DrawFn, body: st.SearchStrategy[str] = body_texts) -> dict[str, Any]:
    """A function URL event (payload 2.0) whose every part may be missing or malformed."""
    method = draw(st.one_of(st.just("POST"), st.sampled_from(["GET", "PUT", "post", "DELETE", ""]), json_values))
    event: dict[str, Any] = {"version": "2.0", "rawPath": "/"}
    choice = draw(st.integers(0, 9))
    if choice > 1:
        event["requestContext"] = {"http": {"method": method, "sourceIp": "203.0.113.7"}}
    elif choice == 1:
        event["requestContext"] = draw(json_values)
    headers = draw(
        st.one_of(st.just({"content-type": "application/json"}), st.dictionaries(st.text(max_size=20), st.text(max_size=40)), json_values)
    )
    if draw(st.integers(0, 9)) > 0:
        event["headers"] = headers
    text = draw(body)
    encoded = draw(st.integers(0, 3)) == 0
    raw: Any = b64(text.encode("utf-8", "surrogatepass")) if encoded else text
    kind = draw(st.integers(0, 19))
    if kind == 0:
        raw = draw(json_values)  # a body that is not a string at all
    elif kind == 1:
        raw = draw(st.text(max_size=60))  # claimed base64, is not
        encoded = True
    if draw(st.integers(0, 19)) > 0:
        event["body"] = raw
    event["isBase64Encoded"] = encoded if draw(st.integers(0, 9)) > 0 else draw(json_values)
    event.update(draw(st.dictionaries(st.sampled_from(["cookies", "queryStringParameters", "routeKey"]), json_values, max_size=2)))
    return event


#: well-formed events (POST, JSON headers) whose body is what is fuzzed
body_events = url_events(body=body_texts).map(lambda e: {**e, "requestContext": {"http": {"method": "POST"}}})
