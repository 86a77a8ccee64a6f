"""The one table's key schema (§5) and the ids derived from the work.

  PERSON#<person_id> / PROFILE          name, face_count, indexed_faces; GSI1 ("PEOPLE", name#id) lists people
  PERSON#<person_id> / FACE#<face_id>   one sighting or enrolled face (model, preprocessing, crop_key, quality)
  MEDIA#<request_id> / FACE#<index>     the tag of one face of a frame or photo (no person_id: unknown)
  MEDIA#<request_id> / META             filename, source, result

Powertools' idempotency records share the table under their own ``PK`` values.
"""

from __future__ import annotations

import uuid

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


def tag_key(request_id: str, index: int) -> dict[str, str]:
    return {"PK": media_pk(request_id), "SK": f"FACE#{index:04d}"}


def meta_key(request_id: str) -> dict[str, str]:
    return {"PK": media_pk(request_id), "SK": META}


def people_sort_key(name: str, person_id: str) -> str:
    """GSI1 sort key: people listed by name, ties by id."""
    return f"{name.lower()}#{person_id}"


def face_id_for(request_id: str, index: int) -> str:
    """Deterministic face (and vector) id of face ``index`` of ``request_id``."""
    return uuid.uuid5(_IDS, f"face:{request_id}#{index}").hex


def person_id_for(face_id: str) -> str:
    """Id of the person first seen as ``face_id``: a repeat creates the same person, not a second."""
    return uuid.uuid5(_IDS, f"person:{face_id}").hex


def generated_name(person_id: str) -> str:
    return f"person-{person_id[:6]}"
