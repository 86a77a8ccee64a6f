"""Every setting in one table: the fields of ``Settings``.

Each field says its environment name (the field's name in capitals unless given), type,
default, range or choices, meaning, and which programs read it. ``Settings.from_env``, the
local stack's environment (``Settings.environment``), the Terraform agreement test and the
settings page (``markdown_table``: docs/settings.md; a test holds it to this) all read this one
table. Resolution order: explicit argument, then environment variable, then default. A bad
value fails in the constructor, at start-up, never on the first request. (The module is long
because every setting's row is here, by design: one table, one place.)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from facepipe.embedding.models import MODELS
from facepipe.exceptions import ConfigurationError

DETECTION = "face-detection"
RECOGNITION = "face-recognition"
TOOLS = "facepipe CLI"
BOTH = (DETECTION, RECOGNITION)

VECTOR_BACKENDS = ("pinecone", "local")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _calibrated(field: str) -> str:
    """Each model's calibrated ``field`` (its spec's ``Calibration``), for the help texts: ``facenet-vggface2 0.70, ...``."""
    values = ((spec.name, getattr(spec.calibration, field)) for spec in MODELS.values())
    return ", ".join(f"{name} {value:.2f}" if round(value, 2) == value else f"{name} {value}" for name, value in values)


def setting(
    default: Any,
    help: str,
    used_by: tuple[str, ...],
    *,
    env: str | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
    deployed: bool = True,
) -> Any:
    """A ``Settings`` field. ``deployed=False``: Terraform must not set it on the functions
    (secrets, local-only knobs). ``low``/``high`` bound numbers; ``choices`` lists the values of a string."""
    meta = {"env": env, "help": help, "used_by": used_by, "low": low, "high": high, "choices": choices, "deployed": deployed}
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Setting:
    """One row of the table, for the programs and tests that read it as a table."""

    field: str
    env: str
    kind: str  # "str", "int", "float", "bool" or "float | None"
    default: Any
    help: str
    used_by: tuple[str, ...]
    low: float | None
    high: float | None
    choices: tuple[str, ...] | None
    deployed: bool

    @property
    def default_text(self) -> str:
        """The default as an environment value ("" for none)."""
        return to_text(self.default)


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Settings:
    """Resolved, validated settings. Build with :meth:`from_env`, or directly in tests."""

    request_queue_url: str = setting("", "SQS queue detection writes face crops to (seed 003).", (DETECTION,))
    response_queue_url: str = setting("", "SQS queue the client polls for `{request_id, result}`.", BOTH)
    ddb_table_name: str = setting("", "DynamoDB table: people, faces, tags, idempotency records (seed 000).", BOTH)
    s3_bucket_name: str = setting("", "Photo bucket: photo ingest, crop claim checks, indexed face crops (seed 000).", BOTH)
    vector_backend: str = setting(
        "pinecone", "`pinecone` (deployed) or `local` (embedded faiss index).", (RECOGNITION,), choices=VECTOR_BACKENDS
    )
    pinecone_index_name: str = setting("facepipe", "Pinecone index (used when no host is given).", (RECOGNITION,))
    pinecone_index_host: str = setting("", "Pinecone index host; set it to skip the describe call per cold start.", (RECOGNITION,))
    pinecone_namespace: str = setting(
        "", "Pinecone namespace; empty means `faces-<EMBEDDING_MODEL>` (models never share one).", (RECOGNITION,)
    )
    pinecone_ssm_parameter_name: str = setting(
        "/pinecone/facepipe", "SSM SecureString with the Pinecone API key (read at run time, cached, never logged).", (RECOGNITION,)
    )
    embedding_model: str = setting(
        "facenet-vggface2",
        " or ".join(f"`{spec.name}` ({spec.dimension}-d)" for spec in MODELS.values()) + "; both functions must agree.",
        BOTH,
        choices=tuple(MODELS),
    )
    facenet_weights_path: str = setting(
        "",
        "VGGFace2 network: its exported `.onnx` file (the image's; `make weights`) or the SHA-256-checked `.pt` weights "
        "(exported at load, slower); empty: the baked or cached file.",
        (RECOGNITION,),
    )
    face_similarity_threshold: float | None = setting(
        None,
        "Cosine similarity two good faces need to be one person; fair and poor faces need the model's calibrated steps more. "
        f"Empty: the model's calibration ({_calibrated('good')}).",
        (RECOGNITION,),
        low=-1.0,
        high=1.0,
    )
    face_similarity_threshold_fair: float | None = setting(
        None,
        "Cosine similarity a fair pair (a face under 40 px, or turned) needs; empty: FACE_SIMILARITY_THRESHOLD plus the "
        "model's step (facepipe calibrate --from-review suggests one from your cameras).",
        (RECOGNITION,),
        low=-1.0,
        high=1.0,
    )
    face_similarity_threshold_poor: float | None = setting(
        None,
        "Cosine similarity a poor pair (a face under 24 px, blurred, or turned away) needs; empty: FACE_SIMILARITY_THRESHOLD "
        "plus the model's step.",
        (RECOGNITION,),
        low=-1.0,
        high=1.0,
    )
    face_recognition_tolerance: float | None = setting(
        None, "Seed 000's dlib Euclidean distance, mapped to a similarity when no threshold is set.", (RECOGNITION,), low=0.0, high=2.0
    )
    face_match_margin: float | None = setting(
        None,
        f"How much the best person must beat the second-best by; empty: the model's calibration ({_calibrated('margin')}).",
        (RECOGNITION,),
        low=0.0,
        high=1.0,
    )
    min_face_score: float = setting(
        0.9, "MTCNN probability a face needs; faces under 128 px need 0.95, under 64 px 0.97.", BOTH, low=0.0, high=1.0
    )
    min_face_size: int = setting(16, "Smallest face searched for, in pixels of the original frame.", BOTH, low=12, high=4096)
    min_face_fraction: float = setting(
        1 / 32,
        "The smallest face searched is also this share of the frame's short side, up to 32 px: 1/32 searches 640x480 "
        "down to 16 px and 1080p down to 32 px; 0 searches every frame down to `MIN_FACE_SIZE`.",
        BOTH,
        low=0.0,
        high=0.5,
    )
    detection_pixel_budget: int = setting(
        2_000_000,
        "Above this many pixels the smallest face searched grows with √(pixels / budget) (3840x2160: 33 px).",
        BOTH,
        low=100_000,
        high=100_000_000,
    )
    max_faces_per_frame: int = setting(
        100,
        "Most faces of one frame or uploaded photo that are recognised: the largest are kept, the rest counted as `skipped` "
        "in the reply, the messages and the `SkippedFaces` metric.",
        BOTH,
        low=1,
        high=1000,
    )
    max_body_bytes: int = setting(6 * 1024 * 1024, "Largest function URL body (413 above).", (DETECTION,), low=1024, high=64 * 2**20)
    max_image_pixels: int = setting(
        40_000_000, "Largest image, width × height, checked from the header before decoding (413 above).", BOTH, low=10_000, high=2**31
    )
    max_photo_bytes: int = setting(
        50 * 2**20,
        "Largest photo upload read from S3, checked with HeadObject before anything is downloaded (dead-lettered above).",
        (RECOGNITION,),
        low=1024,
        high=5 * 2**30,
    )
    device_tokens_ssm_parameter_name: str = setting(
        "",
        "SSM SecureString with per-device tokens, JSON `{source: token}`; set: every request needs its source's token in "
        "the `x-facepipe-token` header (401/403 otherwise). Empty: no tokens (use with `auth = AWS_IAM`).",
        (DETECTION,),
    )
    photo_prefix: str = setting("photos/", "Key prefix of uploads that are recognised.", (RECOGNITION,))
    photo_responses: bool = setting(False, "Also send a response-queue message for each S3 photo.", (RECOGNITION,))
    event_bus_name: str = setting(
        "",
        "EventBridge bus recognition publishes what it decided on (docs/events.md); empty: no events.",
        (RECOGNITION,),
    )
    arrival_cooldown_seconds: int = setting(
        600,
        "A person (or review group) seen at a source after this long away from it is a new arrival: one Person Arrived "
        "(Unknown Visitor) event.",
        (RECOGNITION,),
        low=1,
        high=604800,
    )
    keep_unknown_faces: bool = setting(
        True,
        "Keep unknown faces (crop, vector, quality, source, time) for review, grouped, so a person can name them; "
        "false keeps nothing of them.",
        (RECOGNITION,),
    )
    review_retention_days: int = setting(
        14,
        "Days an unknown face kept for review (and a recorded sighting's crop) is kept unless named (DynamoDB TTL, S3 "
        "lifecycle, index clean-up).",
        (RECOGNITION,),
        low=1,
        high=3650,
    )
    torch_num_threads: int = setting(
        0, "Model threads per function (torch, onnxruntime); 0: the vCPUs the function's memory buys.", BOTH, low=0, high=64, deployed=False
    )
    record_threads: int = setting(
        10,
        "Records of one SQS batch finished at once, each as soon as its crops are embedded (their DynamoDB, Pinecone "
        "and SQS calls overlap); 1: one after another.",
        (RECOGNITION,),
        low=1,
        high=64,
        deployed=False,
    )
    log_level: str = setting("INFO", "Log level.", BOTH, choices=LOG_LEVELS)
    service_name: str = setting(
        "",
        "Powertools' service name (logs, traces, metrics): the function's name, `face-detection` or `face-recognition`.",
        BOTH,
        env="POWERTOOLS_SERVICE_NAME",
    )
    function_url: str = setting(
        "",
        "The function URL `facepipe send`/`eval` post to when no local stack runs.",
        (TOOLS,),
        env="FACEPIPE_FUNCTION_URL",
        deployed=False,
    )
    fixtures: str = setting(
        "",
        "Labelled photos (`faces/labels.json`) for demo, eval and tests; empty: `../shared/fixtures`.",
        (TOOLS,),
        env="FACEPIPE_FIXTURES",
        deployed=False,
    )

    def __post_init__(self) -> None:
        for row in table():
            value = getattr(self, row.field)
            if value is None:
                continue
            if row.choices is not None and value not in row.choices:
                raise ConfigurationError(f"{row.env}={value!r} is unknown; choose one of {', '.join(row.choices)}")
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and (math.isnan(value) or (row.low is not None and value < row.low) or (row.high is not None and value > row.high)):
                raise ConfigurationError(f"{row.env}={value!r} must be between {row.low} and {row.high}")

    @property
    def good_threshold(self) -> float | None:
        """An explicit similarity for good faces: FACE_SIMILARITY_THRESHOLD, else the mapped
        FACE_RECOGNITION_TOLERANCE (through the model's descriptor norm), else None (the model's
        calibration: its spec, facepipe.embedding.models)."""
        if self.face_similarity_threshold is not None:
            return self.face_similarity_threshold
        if self.face_recognition_tolerance is not None:
            unit_distance = self.face_recognition_tolerance / MODELS[self.embedding_model].descriptor_norm
            return 1.0 - unit_distance**2 / 2.0
        return None

    @property
    def namespace(self) -> str:
        """Vector namespace: vectors of different models never share one."""
        return self.pinecone_namespace or f"faces-{self.embedding_model}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for row in table():
            if row.field in overrides:
                values[row.field] = overrides[row.field]
            elif row.env in env:
                values[row.field] = _parse(row, env[row.env])
        return cls(**values)

    def environment(self, for_function: str | None = None) -> dict[str, str]:
        """These settings as environment variables (all, or those ``for_function`` reads)."""
        return {
            row.env: to_text(getattr(self, row.field))
            for row in table()
            if (for_function is None or for_function in row.used_by) and getattr(self, row.field) != row.default
        }

    def require(self, *names: str) -> None:
        """Fail clearly when settings a component needs are empty (names are env names)."""
        by_env = {row.env: row.field for row in table()}
        missing = [n for n in names if not getattr(self, by_env[n])]
        if missing:
            raise ConfigurationError(f"missing setting(s): {', '.join(missing)}")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


@functools.cache
def table() -> tuple[Setting, ...]:
    """The table: one ``Setting`` per field of ``Settings``, in order."""
    hints = typing.get_type_hints(Settings)
    rows = []
    for field in dataclasses.fields(Settings):
        meta = field.metadata
        kind = {str: "str", int: "int", float: "float", bool: "bool"}.get(hints[field.name], "float | None")
        rows.append(
            Setting(
                field.name,
                meta["env"] or field.name.upper(),
                kind,
                field.default,
                meta["help"],
                meta["used_by"],
                meta["low"],
                meta["high"],
                meta["choices"],
                meta["deployed"],
            )
        )
    return tuple(rows)


def settings_for(function: str) -> tuple[Setting, ...]:
    """Settings the given program (``face-detection``, ``face-recognition``, the CLI) reads."""
    return tuple(row for row in table() if function in row.used_by)


def _parse(row: Setting, raw: str) -> Any:
    text = raw.strip()
    if row.kind == "str":
        return raw.upper() if row.choices == LOG_LEVELS else raw
    if row.kind == "bool":
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"{row.env}={raw!r} is not a boolean; use true or false")
    if row.kind == "float | None" and text == "":
        return None
    kind = int if row.kind == "int" else float
    try:
        return kind(text)
    except ValueError:
        raise ConfigurationError(f"{row.env}={raw!r} is not {'an integer' if kind is int else 'a number'}") from None


def markdown_table() -> str:
    """The settings page's table (docs/settings.md), from this table."""
    lines = ["| name | default | read by | meaning |", "|---|---|---|---|"]
    for row in table():
        default = f"`{row.default_text}`" if row.default_text else ""
        lines.append(f"| `{row.env}` | {default} | {', '.join(row.used_by)} | {row.help} |")
    return "\n".join(lines)
