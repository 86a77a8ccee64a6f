"""One place for every setting: its environment name, default, meaning and readers.

The same table feeds the code (``Settings.from_env``), the local stack, the
Terraform agreement test and the README. Resolution order: explicit argument,
then environment variable, then default. Bad values fail here, at start-up.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from facepipe.exceptions import ConfigurationError

DETECTION = "face-detection"
RECOGNITION = "face-recognition"
BOTH = (DETECTION, RECOGNITION)

EMBEDDING_MODELS = ("facenet-vggface2", "dlib-resnet")
VECTOR_BACKENDS = ("pinecone", "local")

# Typical L2 norm of a raw descriptor: dlib's are not unit vectors (measured 1.32-1.58,
# mean 1.41 on the fixtures), so seed 000's Euclidean tolerance d maps to the cosine
# similarity 1 - (d / norm)**2 / 2 (0.6 -> 0.91 for dlib; 1 - d**2/2 for unit vectors).
DESCRIPTOR_NORMS = {"dlib-resnet": 1.41, "facenet-vggface2": 1.0}


@dataclass(frozen=True)
class Setting:
    env: str
    default: str | None
    help: str
    used_by: tuple[str, ...]
    #: deployed functions must not carry it (e.g. secrets) or it only matters locally
    deployed: bool = True


SETTINGS: tuple[Setting, ...] = (
    Setting("REQUEST_QUEUE_URL", None, "SQS queue detection writes face crops to (seed 003).", (DETECTION,)),
    Setting("RESPONSE_QUEUE_URL", None, "SQS queue the client polls for {request_id, result}.", BOTH),
    Setting("DDB_TABLE_NAME", None, "DynamoDB table: people, faces, tags, idempotency records.", BOTH),
    Setting("S3_BUCKET_NAME", None, "Photo bucket: photo ingest and crop claim checks.", BOTH),
    Setting("VECTOR_BACKEND", "pinecone", "`pinecone` (deployed) or `local` (embedded index).", (RECOGNITION,)),
    Setting("PINECONE_INDEX_NAME", "facepipe", "Pinecone index name (used when no host is given).", (RECOGNITION,)),
    Setting("PINECONE_INDEX_HOST", "", "Pinecone index host; set it to skip the describe call per cold start.", (RECOGNITION,)),
    Setting("PINECONE_NAMESPACE", "", "Pinecone namespace; empty means `faces-<EMBEDDING_MODEL>`.", (RECOGNITION,)),
    Setting("PINECONE_SSM_PARAMETER_NAME", "/pinecone/facepipe", "SSM SecureString holding the Pinecone API key.", (RECOGNITION,)),
    Setting("EMBEDDING_MODEL", "facenet-vggface2", "`facenet-vggface2` (512-d) or `dlib-resnet` (128-d).", BOTH),
    Setting("FACENET_WEIGHTS_PATH", "", "VGGFace2 weights file (`make weights`); empty means the default cache path.", (RECOGNITION,)),
    Setting("FACE_SIMILARITY_THRESHOLD", "", "Cosine similarity two good-quality faces need to be one person; fair and poor faces need the model's calibrated steps more. Empty means the model's calibrated default (dlib 0.93, facenet 0.70).", (RECOGNITION,)),
    Setting("FACE_RECOGNITION_TOLERANCE", "", "Seed 000's dlib Euclidean distance; mapped to a similarity (see DESCRIPTOR_NORMS) when no threshold is set.", (RECOGNITION,)),
    Setting("FACE_MATCH_MARGIN", "", "How much the best person must beat the second-best by; empty means the model's calibrated default (dlib 0.06, facenet 0.10).", (RECOGNITION,)),
    Setting("MIN_FACE_SCORE", "0.9", "MTCNN probability a face needs; faces under 128 px need at least 0.95, under 64 px 0.97.", BOTH),
    Setting("MIN_FACE_SIZE", "16", "Smallest face (pixels of the original frame) searched for.", BOTH),
    Setting("DETECTION_PIXEL_BUDGET", "2000000", "Frames up to this many pixels are searched down to MIN_FACE_SIZE; above, the smallest face grows with sqrt(pixels / budget).", BOTH),
    Setting("MAX_BODY_BYTES", "6291456", "Largest function URL body accepted (413 above).", (DETECTION,)),
    Setting("MAX_IMAGE_PIXELS", "40000000", "Largest image (width x height) decoded (413 above).", BOTH),
    Setting("PHOTO_PREFIX", "photos/", "Key prefix of photo uploads that are recognised.", (RECOGNITION,)),
    Setting("PHOTO_RESPONSES", "false", "Also send a response-queue message for each S3 photo.", (RECOGNITION,)),
    Setting("LOG_LEVEL", "INFO", "Log level.", BOTH),
)

_BY_ENV = {s.env: s for s in SETTINGS}


def settings_for(function: str) -> tuple[Setting, ...]:
    """Settings the given function (``face-detection`` / ``face-recognition``) reads."""
    return tuple(s for s in SETTINGS if function in s.used_by)


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean; use true or false")


def _parse_number(name: str, raw: str, kind: type, low: float, high: float) -> float | int:
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
        raise ConfigurationError(f"{name}={raw!r} must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved, validated settings. Build with :meth:`from_env` or directly in tests."""

    request_queue_url: str = ""
    response_queue_url: str = ""
    ddb_table_name: str = ""
    s3_bucket_name: str = ""
    vector_backend: str = "pinecone"
    pinecone_index_name: str = "facepipe"
    pinecone_index_host: str = ""
    pinecone_namespace: str = ""
    pinecone_ssm_parameter_name: str = "/pinecone/facepipe"
    embedding_model: str = "facenet-vggface2"
    facenet_weights_path: str = ""
    face_similarity_threshold: float | None = None
    face_recognition_tolerance: float | None = None
    face_match_margin: float | None = None
    min_face_score: float = 0.90
    min_face_size: int = 16
    detection_pixel_budget: int = 2_000_000
    max_body_bytes: int = 6 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    photo_prefix: str = "photos/"
    photo_responses: bool = False
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.embedding_model not in EMBEDDING_MODELS:
            raise ConfigurationError(
                f"EMBEDDING_MODEL={self.embedding_model!r} is unknown; choose one of {', '.join(EMBEDDING_MODELS)}"
            )
        if self.vector_backend not in VECTOR_BACKENDS:
            raise ConfigurationError(
                f"VECTOR_BACKEND={self.vector_backend!r} is unknown; choose one of {', '.join(VECTOR_BACKENDS)}"
            )
        if self.face_similarity_threshold is not None and not (-1.0 <= self.face_similarity_threshold <= 1.0):
            raise ConfigurationError("FACE_SIMILARITY_THRESHOLD must be a cosine similarity in [-1, 1]")
        if self.face_recognition_tolerance is not None and not (0.0 < self.face_recognition_tolerance <= 2.0):
            raise ConfigurationError("FACE_RECOGNITION_TOLERANCE must be a distance in (0, 2]")
        if self.face_match_margin is not None and not (0.0 <= self.face_match_margin <= 1.0):
            raise ConfigurationError("FACE_MATCH_MARGIN must be a similarity difference in [0, 1]")

    @property
    def good_threshold(self) -> float | None:
        """An explicit similarity for good faces: FACE_SIMILARITY_THRESHOLD, else the mapped
        FACE_RECOGNITION_TOLERANCE, else None (the model's calibration, facepipe.matching)."""
        if self.face_similarity_threshold is not None:
            return self.face_similarity_threshold
        if self.face_recognition_tolerance is not None:
            unit_distance = self.face_recognition_tolerance / DESCRIPTOR_NORMS[self.embedding_model]
            return 1.0 - unit_distance**2 / 2.0
        return None

    @property
    def namespace(self) -> str:
        """Vector namespace: vectors of different models never share one."""
        return self.pinecone_namespace or f"faces-{self.embedding_model}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ

        def raw(name: str) -> str:
            value = env.get(name)
            return _BY_ENV[name].default or "" if value is None else value

        def optional_float(name: str, low: float, high: float) -> float | None:
            value = raw(name).strip()
            return None if value == "" else float(_parse_number(name, value, float, low, high))

        values: dict[str, object] = {
            "request_queue_url": raw("REQUEST_QUEUE_URL"),
            "response_queue_url": raw("RESPONSE_QUEUE_URL"),
            "ddb_table_name": raw("DDB_TABLE_NAME"),
            "s3_bucket_name": raw("S3_BUCKET_NAME"),
            "vector_backend": raw("VECTOR_BACKEND"),
            "pinecone_index_name": raw("PINECONE_INDEX_NAME"),
            "pinecone_index_host": raw("PINECONE_INDEX_HOST"),
            "pinecone_namespace": raw("PINECONE_NAMESPACE"),
            "pinecone_ssm_parameter_name": raw("PINECONE_SSM_PARAMETER_NAME"),
            "embedding_model": raw("EMBEDDING_MODEL"),
            "facenet_weights_path": raw("FACENET_WEIGHTS_PATH"),
            "face_similarity_threshold": optional_float("FACE_SIMILARITY_THRESHOLD", -1.0, 1.0),
            "face_recognition_tolerance": optional_float("FACE_RECOGNITION_TOLERANCE", 0.0, 2.0),
            "face_match_margin": optional_float("FACE_MATCH_MARGIN", 0.0, 1.0),
            "min_face_score": _parse_number("MIN_FACE_SCORE", raw("MIN_FACE_SCORE"), float, 0.0, 1.0),
            "min_face_size": _parse_number("MIN_FACE_SIZE", raw("MIN_FACE_SIZE"), int, 12, 4096),
            "detection_pixel_budget": _parse_number("DETECTION_PIXEL_BUDGET", raw("DETECTION_PIXEL_BUDGET"), int, 100_000, 100_000_000),
            "max_body_bytes": _parse_number("MAX_BODY_BYTES", raw("MAX_BODY_BYTES"), int, 1024, 64 * 2**20),
            "max_image_pixels": _parse_number("MAX_IMAGE_PIXELS", raw("MAX_IMAGE_PIXELS"), int, 10_000, 2**31),
            "photo_prefix": raw("PHOTO_PREFIX"),
            "photo_responses": _parse_bool("PHOTO_RESPONSES", raw("PHOTO_RESPONSES")),
            "log_level": raw("LOG_LEVEL").upper(),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def require(self, *names: str) -> None:
        """Fail clearly when settings a component needs are empty (names are env names)."""
        missing = [n for n in names if not getattr(self, n.lower())]
        if missing:
            raise ConfigurationError(f"missing setting(s): {', '.join(missing)}")

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)
