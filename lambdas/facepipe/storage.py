"""S3, in one place: the photo bucket's key layout and every object the functions read or write.

``photos/…`` uploads to recognise (PHOTO_PREFIX), ``crops/<source>/<request_id>/<digest>/<index>.jpg`` claim
checks of request messages too large for SQS (docs/contracts.md, Request message; the bucket's lifecycle rule expires them),
``faces/<face_id>.jpg`` the crop of every indexed face, kept so faces can be re-embedded
with another model later (a vector is only good for the model that made it), ``sightings/<face_id>.jpg`` and ``review/<face_id>.jpg`` the crops
of the other recorded faces and of the unknown faces kept for review (both expire with the review). A missing object can never appear later: reading one is an
``InvalidMessageError`` (dead-letter, do not retry); other S3 faults propagate as transient.
Photos and crops are read with a size limit, checked with ``HeadObject`` before the download
(``read_photo``: MAX_PHOTO_BYTES; ``read_crop``: facepipe.images.MAX_CROP_BYTES).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import ClientError
from PIL import Image

from facepipe.exceptions import InvalidMessageError
from facepipe.images import MAX_CROP_BYTES, encode_jpeg

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MISSING = ("NoSuchKey", "404", "NoSuchVersion", "NoSuchBucket")


def claim_check_key(source: str, request_id: str, digest: str, index: int) -> str:
    """Where detection claim-checks face ``index`` of an image: the caller's (source's) request_id
    and the image's digest, so a request_id reused, or used by another device, never overwrites
    the crops of a message still queued or dead-lettered."""
    return f"crops/{quote(source, safe='')}/{request_id}/{digest[:16] or 'unknown'}/{index}.jpg"


def face_crop_key(face_id: str) -> str:
    """The crop of an indexed face: kept while the face is (to re-embed it with another model)."""
    return f"faces/{face_id}.jpg"


def sighting_crop_key(face_id: str) -> str:
    """The crop of a recorded face that is not indexed: kept ``REVIEW_RETENTION_DAYS`` (lifecycle)."""
    return f"sightings/{face_id}.jpg"


def review_crop_key(face_id: str) -> str:
    """The crop of an unknown face kept for review: kept ``REVIEW_RETENTION_DAYS`` (lifecycle)."""
    return f"review/{face_id}.jpg"


def _location(bucket: str, key: str, version_id: str) -> dict[str, Any]:
    location: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        location["VersionId"] = version_id
    return location


def _missing(exc: ClientError, what: str, bucket: str, key: str) -> InvalidMessageError | None:
    """The permanent error for a ClientError that says the object is not there, else None.

    Telling 404 from 403 needs ``s3:ListBucket`` on the bucket: without it S3 answers a missing
    key with 403 AccessDenied, which stays a transient error here (terraform/iam.tf grants it).
    """
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code not in MISSING:
        return None
    return InvalidMessageError(
        f"{what}: s3://{bucket}/{key} does not exist ({code}); it cannot appear later, so the message is not retried"
    )


def object_size(s3: S3Client, bucket: str, key: str, version_id: str = "", what: str = "object") -> int:
    """An object's size in bytes from ``HeadObject`` (nothing is downloaded); InvalidMessageError when it does not exist."""
    try:
        return int(s3.head_object(**_location(bucket, key, version_id))["ContentLength"])
    except ClientError as exc:
        missing = _missing(exc, what, bucket, key)
        if missing is not None:
            raise missing from None
        raise


def read_object(
    s3: S3Client,
    bucket: str,
    key: str,
    version_id: str = "",
    what: str = "object",
    max_bytes: int | None = None,
    limit_name: str = "MAX_PHOTO_BYTES",
) -> bytes:
    """An object's bytes (a given version); InvalidMessageError when it does not exist.

    With ``max_bytes`` its size is checked first (``HeadObject``: a multi-GB upload is refused
    before one byte of it is read, InvalidMessageError naming the limit), and the download is
    bounded too, in case the object was replaced between the two calls.
    """
    if max_bytes is not None:
        size = object_size(s3, bucket, key, version_id, what)
        if size > max_bytes:
            raise InvalidMessageError(f"{what}: s3://{bucket}/{key} is {size} bytes; the limit is {max_bytes} bytes ({limit_name})")
    try:
        body = s3.get_object(**_location(bucket, key, version_id))["Body"]
    except ClientError as exc:
        missing = _missing(exc, what, bucket, key)
        if missing is not None:
            raise missing from None
        raise
    try:
        data = body.read() if max_bytes is None else body.read(max_bytes + 1)
    finally:
        body.close()
    if max_bytes is not None and len(data) > max_bytes:
        raise InvalidMessageError(f"{what}: s3://{bucket}/{key} is over {max_bytes} bytes ({limit_name})")
    return data


def read_photo(s3: S3Client, bucket: str, key: str, version_id: str, max_bytes: int, what: str = "photo") -> bytes:
    """An uploaded photo's bytes, refused by its size before it is downloaded (MAX_PHOTO_BYTES)."""
    return read_object(s3, bucket, key, version_id, what, max_bytes=max_bytes)


def read_crop(s3: S3Client, bucket: str, key: str, what: str = "crop") -> bytes:
    """A claim-checked crop's JPEG bytes (at most facepipe.images.MAX_CROP_BYTES); a missing
    crop is permanent (InvalidMessageError), never retried."""
    return read_object(s3, bucket, key, what=what, max_bytes=MAX_CROP_BYTES, limit_name="facepipe.images.MAX_CROP_BYTES")


def put_jpeg(s3: S3Client, bucket: str, key: str, image: Image.Image | bytes) -> None:
    """An image (or its JPEG bytes) at ``key``."""
    body = image if isinstance(image, bytes) else encode_jpeg(image)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")


def delete_every_version(s3: Any, bucket: str, key: str) -> int:
    """Delete every version and delete marker of exactly ``key`` (a versioned bucket keeps a
    deleted object's versions); how many there were."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if version["Key"] == key:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
                removed += 1
    return removed


def copy_object(s3: Any, bucket: str, source: str, target: str) -> bool:
    """Copy ``source`` to ``target`` in ``bucket``; False when ``source`` is not there."""
    try:
        s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source})
        return True
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in MISSING:
            return False
        raise
