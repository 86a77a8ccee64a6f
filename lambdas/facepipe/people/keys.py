"""The one table's key schema (§5) and the ids derived from the work.

  PERSON#<person_id> / PROFILE                    name, face_count, indexed_faces; GSI1 ("PEOPLE", name#id) lists
                                                  people; a merged-away person keeps a tombstone (merged_into)
  PERSON#<person_id> / FACE#<face_id>             one sighting or enrolled face (model, preprocessing, crop_key, quality)
  MEDIA#<request_id> / IMG#<digest>#FACE#<index>  the tag of one face of one image (no person_id: unknown)
  MEDIA#<request_id> / IMG#<digest>#META          filename, source, result
  STRANGERS#<namespace> / HEAD, E#<seq>           people created lately (facepipe.people.registry)
  IDEMPOTENCY / <unit>#<md5 of request_id>        Powertools' idempotency records (stored responses)

Media items are keyed by the image's digest too: a request_id a camera reuses for another image
never overwrites the first image's tags (and a face id is request_id + digest + index).
"""

from __future__ import annotations

import hashlib
import json
import uuid

from facepipe import names
from facepipe.names import PEOPLE_INDEX

__all__ = ["PEOPLE_INDEX", "face_id_for", "generated_name", "person_id_for"]

PROFILE = "PROFILE"
META = "META"
PEOPLE_PARTITION = "PEOPLE"
_IDS = uuid.UUID("5b0f6a51-1d1e-4c55-9a56-3d1f1c0c9e11")


def person_pk(person_id: str) -> str:
    return f"PERSON#{person_id}"


def profile_key(person_id: str) -> dict[str, str]:
    return {"PK": person_pk(person_id), "SK": PROFILE}


def face_key(person_id: str, face_id: str) -> dict[str, str]:
    return {"PK": person_pk(person_id), "SK": f"FACE#{face_id}"}


def media_pk(request_id: str) -> str:
    return f"MEDIA#{request_id}"


def image_prefix(digest: str) -> str:
    """The sort-key prefix of one image's items under its request_id (16 hex digits of its SHA-256)."""
    return f"IMG#{digest[:16] or 'unknown'}#"


def tag_key(request_id: str, digest: str, index: int) -> dict[str, str]:
    return {"PK": media_pk(request_id), "SK": f"{image_prefix(digest)}FACE#{index:04d}"}


def meta_key(request_id: str, digest: str) -> dict[str, str]:
    return {"PK": media_pk(request_id), "SK": f"{image_prefix(digest)}{META}"}


def strangers_pk(namespace: str) -> str:
    return f"STRANGERS#{namespace}"


def stranger_sk(seq: int) -> str:
    return f"E#{seq:012d}"


def idempotency_key(unit: str, request_id: str) -> dict[str, str]:
    """The key of the record Powertools keeps for ``unit`` (its ``key_prefix``) of ``request_id``:
    its own hash (md5 of the JSON of the idempotency data), so erasure can find stored responses."""
    return {"PK": names.IDEMPOTENCY_PARTITION, "SK": f"{unit}#{hashlib.md5(json.dumps(request_id).encode()).hexdigest()}"}


def sent_key(request_id: str, digest: str) -> dict[str, str]:
    """The marker that the response to image ``digest`` of ``request_id`` was sent (``Recognizer.answer``)."""
    key = idempotency_key("sent", request_id)
    return {**key, "SK": f"{key['SK']}#{digest[:16]}"}


def people_sort_key(name: str, person_id: str) -> str:
    """GSI1 sort key: people listed by name, ties by id."""
    return f"{name.lower()}#{person_id}"


def face_id_for(request_id: str, digest: str, index: int) -> str:
    """Deterministic face (and vector) id of face ``index`` of the image ``digest`` sent as
    ``request_id``: a redelivery gets the same id; a reused request_id with another image never does."""
    return uuid.uuid5(_IDS, f"face:{request_id}#{digest}#{index}").hex


def person_id_for(face_id: str) -> str:
    """Id of the person first seen as ``face_id``: a repeat creates the same person, not a second."""
    return uuid.uuid5(_IDS, f"person:{face_id}").hex


def generated_name(person_id: str) -> str:
    return f"person-{person_id[:6]}"
