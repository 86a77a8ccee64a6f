"""storage: reads that tell missing from transient, and size limits checked before a download (moto)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError

from facepipe.exceptions import InvalidMessageError
from facepipe.images import MAX_CROP_BYTES
from facepipe.storage import claim_check_key, object_size, read_crop, read_object, read_photo

MB = 2**20


@pytest.fixture
def s3(aws, resources):
    return aws.client("s3")


@pytest.fixture
def gets(s3, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Spy on the client's GetObject calls (a download starts with one)."""
    calls: list[dict[str, Any]] = []
    real = s3.get_object

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(s3, "get_object", spy)
    return calls


def test_read_photo_over_the_limit_is_refused_before_any_download(s3, resources, gets) -> None:
    # GIVEN a 3 MB upload and a 1 MB MAX_PHOTO_BYTES
    s3.put_object(Bucket=resources.bucket, Key="photos/huge.jpg", Body=b"\xff" * (3 * MB))
    # WHEN it is read as a photo
    with pytest.raises(InvalidMessageError, match=r"3145728 bytes; the limit is 1048576 bytes \(MAX_PHOTO_BYTES\)"):
        read_photo(s3, resources.bucket, "photos/huge.jpg", "", max_bytes=MB)
    # THEN it is a permanent error and nothing was downloaded
    assert gets == []


def test_read_photo_under_the_limit_is_read(s3, resources, gets) -> None:
    s3.put_object(Bucket=resources.bucket, Key="photos/p.jpg", Body=b"jpeg bytes")
    assert read_photo(s3, resources.bucket, "photos/p.jpg", "", max_bytes=MB) == b"jpeg bytes"
    assert len(gets) == 1


def test_read_photo_by_version_checks_that_versions_size(s3, resources) -> None:
    # GIVEN a small first version and a large second one
    first = s3.put_object(Bucket=resources.bucket, Key="photos/v.jpg", Body=b"small")["VersionId"]
    s3.put_object(Bucket=resources.bucket, Key="photos/v.jpg", Body=b"\x00" * (2 * MB))
    # WHEN / THEN the version named by the event is what is checked and read
    assert read_photo(s3, resources.bucket, "photos/v.jpg", first, max_bytes=MB) == b"small"
    with pytest.raises(InvalidMessageError):
        read_photo(s3, resources.bucket, "photos/v.jpg", "", max_bytes=MB)


class _ReplacedObject:
    """An S3 client whose HeadObject says small but whose object is large (replaced in between)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.read_sizes: list[int | None] = []

    def head_object(self, **_: Any) -> dict[str, Any]:
        return {"ContentLength": 10}

    def get_object(self, **_: Any) -> dict[str, Any]:
        outer = self

        class Body(io.BytesIO):
            def read(self, size: int | None = -1) -> bytes:
                outer.read_sizes.append(size)
                return super().read(size)

        return {"Body": Body(self.body)}


def test_read_photo_download_is_bounded_even_when_the_head_was_wrong() -> None:
    client = _ReplacedObject(b"\x00" * (5 * MB))
    with pytest.raises(InvalidMessageError, match="over 1048576 bytes"):
        read_photo(client, "bucket", "photos/p.jpg", "", max_bytes=MB)  # type: ignore[arg-type]
    assert client.read_sizes == [MB + 1]  # never more than the limit and one byte


@pytest.mark.parametrize("reader", ["head", "get", "photo", "crop"])
def test_missing_object_is_a_permanent_error_with_its_reason(s3, resources, reader: str) -> None:
    # GIVEN a key that does not exist (an expired claim check, a deleted upload)
    key = claim_check_key("door", "gone", "ab" * 32, 0)
    # WHEN it is read
    with pytest.raises(InvalidMessageError) as caught:
        {
            "head": lambda: object_size(s3, resources.bucket, key, what="face 0 crop"),
            "get": lambda: read_object(s3, resources.bucket, key, what="face 0 crop"),
            "photo": lambda: read_photo(s3, resources.bucket, key, "", MB, what="face 0 crop"),
            "crop": lambda: read_crop(s3, resources.bucket, key, what="face 0 crop"),
        }[reader]()
    # THEN the error says which object is missing and that it is not retried
    message = str(caught.value)
    assert f"s3://{resources.bucket}/{key} does not exist" in message
    assert "not retried" in message
    assert message.startswith("face 0 crop")


class _Denied:
    def head_object(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    def get_object(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")


@pytest.mark.parametrize("max_bytes", [None, MB])
def test_access_denied_stays_transient(max_bytes: int | None) -> None:
    # A 403 may be a policy being deployed: it propagates (the message is retried), it is not "missing"
    with pytest.raises(ClientError):
        read_object(_Denied(), "bucket", "crops/r/0.jpg", max_bytes=max_bytes)  # type: ignore[arg-type]


def test_read_crop_over_the_crop_limit_is_refused_before_download(s3, resources, gets) -> None:
    key = claim_check_key("door", "big", "ab" * 32, 0)
    s3.put_object(Bucket=resources.bucket, Key=key, Body=b"\xff" * (MAX_CROP_BYTES + 1))
    with pytest.raises(InvalidMessageError, match=r"MAX_CROP_BYTES"):
        read_crop(s3, resources.bucket, key)
    assert gets == []


def test_read_crop_reads_a_claim_check(s3, resources) -> None:
    key = claim_check_key("door", "r1", "ab" * 32, 3)
    s3.put_object(Bucket=resources.bucket, Key=key, Body=b"\xff\xd8crop")
    assert read_crop(s3, resources.bucket, key) == b"\xff\xd8crop"
