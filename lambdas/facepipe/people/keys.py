"""The one table's key schema (docs/people.md) and the ids derived from the work.

  PERSON#<person_id> / PROFILE                    name, indexed_faces; GSI1 ("PEOPLE", name#id) lists people;
                                                  a merged-away person keeps a tombstone (merged_into)
  PERSON#<person_id> / PROFILE#<shard>            the person's presence and counts, in PRESENCE_SHARDS items:
                                                  faces, last_seen; ``gone`` once merged away or erased
  PERSON#<person_id> / FACE#<face_id>             one sighting or enrolled face (model, preprocessing, crop_key, quality)
  PERSON#<person_id> / NOT#<face_id>              a negative link: that face is not this person (its vector, band)
  FACE#<face_id> / CLAIM                          who holds the face: a person, or a review group; ``erased`` once erased
  REVIEW#<group_id> / META, FACE#<face_id>        unknown faces kept for review, grouped (facepipe.review); GSI1
                                                  ("REVIEW", last_seen#group) lists groups newest first
  MEDIA#<request_id> / IMG#<digest>#FACE#<index>  the tag of one face of one image (no person_id: unknown)
  MEDIA#<request_id> / IMG#<digest>#META          filename, source, result; GSI1 ("ACTIVITY", tagged_at#…) lists them newest first
  STRANGERS#<namespace> / HEAD, E#<seq>           people created lately (facepipe.people.registry)
  IDEMPOTENCY / <unit>#<md5 of the work's key>    Powertools' idempotency records (stored responses)

Media items are keyed by the image's digest too: a request_id a camera reuses for another image
never overwrites the first image's tags (and a face id is request_id + digest + index).

**Why presence lives in shards.** Every face and tag written under a person checks, in its own
transaction, that the person is still present (not merged away, not being erased). DynamoDB
cancels a transaction that names an item another transaction in flight names, ConditionCheck
included: one item checked by every sighting of a person would make the frames of one person
in front of a camera cancel each other. So each write checks (and counts itself on) one of
``PRESENCE_SHARDS`` items chosen by its face or frame, and a merge or an erasure marks all of
them in one transaction. The PROFILE item is written only by what is rare: a face joining the
person's indexed faces (at most ``MAX_FACES_PER_PERSON``), a rename, a merge, an erasure.
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


def idempotency_key(unit: str, work: object) -> dict[str, str]:
    """The key of the record Powertools keeps for ``unit`` (its ``key_prefix``) of ``work`` (what
    its ``event_key_jmespath`` selects): its own hash (md5 of that JSON, keys sorted), so erasure
    can find stored responses."""
    digest = hashlib.md5(json.dumps(work, sort_keys=True).encode()).hexdigest()
    return {"PK": names.IDEMPOTENCY_PARTITION, "SK": f"{unit}#{digest}"}


def detection_work(source: str, request_id: str) -> list[str]:
    """What detection's reply is kept under: a request_id is the caller's own (its source's)."""
    return [source, request_id]


def image_work(source: str, request_id: str, digest: str) -> list[str]:
    """What recognition's response is kept under: the caller's request_id and the image sent with it."""
    return [source, request_id, digest]


def sent_key(source: str, request_id: str, digest: str) -> dict[str, str]:
    """The marker that the response to image ``digest`` of ``source``'s ``request_id`` was sent."""
    return idempotency_key("sent", image_work(source, request_id, digest))


#: presence and counts of a person are spread over this many items (see the module docstring)
PRESENCE_SHARDS = 16
SHARD_PREFIX = f"{PROFILE}#"


def shard_of(text: str) -> int:
    """The presence shard that writes about ``text`` (a face id, a frame) use."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % PRESENCE_SHARDS


def shard_key(person_id: str, shard: int) -> dict[str, str]:
    return {"PK": person_pk(person_id), "SK": f"{SHARD_PREFIX}{shard:02d}"}


def claim_key(face_id: str) -> dict[str, str]:
    return {"PK": f"FACE#{face_id}", "SK": "CLAIM"}


def negative_key(person_id: str, face_id: str) -> dict[str, str]:
    return {"PK": person_pk(person_id), "SK": f"NOT#{face_id}"}


REVIEW_PARTITION = "REVIEW"
ACTIVITY_PARTITION = "ACTIVITY"


def review_pk(group_id: str) -> str:
    return f"REVIEW#{group_id}"


def review_meta_key(group_id: str) -> dict[str, str]:
    return {"PK": review_pk(group_id), "SK": META}


def review_face_key(group_id: str, face_id: str) -> dict[str, str]:
    return {"PK": review_pk(group_id), "SK": f"FACE#{face_id}"}


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
