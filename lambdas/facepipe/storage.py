"""S3, in one place: the photo bucket's key layout and every object the functions read or write.

``photos/…`` uploads to recognise (PHOTO_PREFIX), ``crops/<request_id>/<index>.jpg`` claim
checks of request messages too large for SQS (§1.2; the bucket's lifecycle rule expires them),
``faces/<face_id>.jpg`` the crop of every indexed face, kept so faces can be re-embedded
with another model later (§9). A missing object can never appear later: reading one is an
``InvalidMessageError`` (dead-letter, do not retry); other S3 faults propagate as transient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from PIL import Image

from facepipe.exceptions import InvalidMessageError
from facepipe.images import encode_jpeg

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MISSING = ("NoSuchKey", "404", "NoSuchVersion", "NoSuchBucket")


def claim_check_key(request_id: str, index: int) -> str:
    return f"crops/{request_id}/{index}.jpg"


def face_crop_key(face_id: str) -> str:
    return f"faces/{face_id}.jpg"


def read_object(s3: S3Client, bucket: str, key: str, version_id: str = "", what: str = "object") -> bytes:
    """An object's bytes (a given version); InvalidMessageError when it does not exist."""
    location: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        location["VersionId"] = version_id
    try:
        return s3.get_object(**location)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING:
            raise InvalidMessageError(f"{what}: s3://{bucket}/{key} does not exist") from None
        raise


def put_jpeg(s3: S3Client, bucket: str, key: str, image: Image.Image | bytes) -> None:
    """An image (or its JPEG bytes) at ``key``."""
    body = image if isinstance(image, bytes) else encode_jpeg(image)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")
