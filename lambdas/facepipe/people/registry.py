"""Strangers seen lately: one stranger is one person, whatever the number of containers.

**The problem.** Up to ``maximum_concurrency`` recognition containers place faces at once, and
Pinecone does not show an upsert to queries at once (its users report 10-30 s). Frames of one
new face reaching two containers would each find nobody in the index and each create a
person.

**The registry.** Every person created from a stranger is also registered, for ``window``
seconds (longer than the index's delay), in one DynamoDB partition of the table:
``STRANGERS#<namespace>/E#<seq>`` items carrying the face's vector, plus a ``HEAD`` item
holding the last ``seq``. Reads are strongly consistent.

**The protocol** (``recognition.placing``, for a face the index says is new):

1. *read*: ``HEAD.seq`` (= s), then every entry newer than the window (all ``seq <= s``);
2. *check*: decide again with these entries as extra candidates (the same
   ``matching.decide``, the same thresholds and margin). A match means the stranger was
   registered by someone else: the face joins that person, nothing is created;
3. *write*: otherwise one transaction creates the person's profile, puts entry ``s + 1`` and
   sets ``HEAD.seq = s + 1`` **on condition that ``HEAD.seq`` is still s**;
4. if that condition fails, another container registered somebody in between: go back to 1.

**Why it is correct.** Successful registrations are totally ordered by ``seq`` (each one moves
HEAD from the value it read), so each of them read every earlier registration (the entries
are written in the transaction that moves HEAD, and read after HEAD with a consistent read).
Take two containers placing the same stranger: whichever registers second either read the
first one's entry and decided *match* at step 2, or had its write refused at step 3, re-read,
and then decided match. The winner is deterministic (the first to move HEAD); the loser is
folded into it before it created anything. The same holds for any number of containers. A
frame whose similarity to the registered face stays below the thresholds becomes a second
person: a split, never a wrong merge (a split costs a person one merge; a wrong merge gives one
person the other's name).

**Cost.** One consistent GetItem and one Query per face the index calls new; one transaction
per person created. Entries older than the window are skipped by the key condition (they
sort by seq, and are read newest first until one is older) and removed by the table's TTL.

**Why one HEAD per namespace.** The proof needs every two registrations that could be one
stranger to be ordered, and no partition of the face space keeps two faces of one stranger
near the threshold in one part: any sharding of HEAD would turn its races into second people.
HEAD is written once per *new person*, never per sighting (sightings count on the person's
presence shards, ``keys``), so its rate is the rate strangers appear, far below one item's
1,000 writes a second. When strangers do arrive together, the losers' writes are refused
(a condition, or a ``TransactionConflict`` retried by ``conflicts.retrying``), read again and
go on: each round registers at least one of them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from facepipe.names import RECORD_LIFETIME_SECONDS, TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.people.conflicts import cancellation_reasons
from facepipe.people.errors import FaceErasedError, PersonGoneError
from facepipe.people.items import dict_item, profile_item
from facepipe.people.presence import presence_check
from facepipe.people.store import PeopleStore
from facepipe.vectors import decode_vector, encode_vector

#: rounds of read, check and write for one face: each round of strangers arriving together registers one of them
REGISTER_ROUNDS = 40

#: how long a new person stays registered: past Pinecone's read-after-write delay (10-30 s), and
#: past every retry of the record that created them (a record that failed before its upsert
#: leaves a person without a vector, whom only the registry shows to the next frame)
REGISTRY_SECONDS = float(RECORD_LIFETIME_SECONDS)


@dataclass(frozen=True)
class Stranger:
    """A registered new person: the face it was created from."""

    seq: int
    person_id: str
    face_id: str
    vector: np.ndarray
    band: str
    created_at: float


@dataclass(frozen=True)
class Snapshot:
    """What a read saw: the HEAD sequence and every entry of the window."""

    seq: int
    strangers: tuple[Stranger, ...]


class StrangerRegistry:
    def __init__(
        self, people: PeopleStore, namespace: str, window: float = REGISTRY_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self.people = people
        self.pk = keys.strangers_pk(namespace)
        self.window = window
        self.clock = clock

    def rounds(self) -> Iterator[Snapshot]:
        """A fresh ``read`` for each round of the protocol, at most ``REGISTER_ROUNDS``; a round
        that comes back (its write was refused) pauses first, jittered, so that strangers arriving
        together take turns."""
        for round_ in range(REGISTER_ROUNDS):
            if round_:
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** (round_ - 1))))
            yield self.read()

    def read(self) -> Snapshot:
        """Step 1: HEAD, then the window's entries, both strongly consistent."""
        head = self.people.get({"PK": self.pk, "SK": "HEAD"}) or {}
        horizon = self.clock() - self.window
        strangers = []
        for item in self.people.query(
            KeyConditionExpression=Key("PK").eq(self.pk) & Key("SK").begins_with("E#"), ConsistentRead=True, ScanIndexForward=False
        ):
            if float(item["created_at"]) < horizon:
                break  # newest first: the rest are older still
            vector = decode_vector(str(item["vector"]))
            strangers.append(
                Stranger(
                    int(item["seq"]), str(item["person_id"]), str(item["face_id"]), vector, str(item["band"]), float(item["created_at"])
                )
            )
        return Snapshot(int(str(head.get("seq", 0))), tuple(strangers))

    def register_person(self, seen: Snapshot, face_id: str, vector: np.ndarray, band: str, request_id: str) -> bool:
        """``register`` the new person ``face_id`` makes (its id ``keys.person_id_for``, a
        generated name, created from ``request_id``)."""
        person_id = keys.person_id_for(face_id)
        return self.register(seen, profile_item(person_id, keys.generated_name(person_id), request_id), face_id, vector, band)

    def register(
        self, seen: Snapshot, person: Mapping[str, Any], face_id: str, vector: np.ndarray, band: str, *, subject: str = "person_id"
    ) -> bool:
        """Step 3: create the person (``person``: its profile item) and register it, if HEAD is
        still what ``seen`` read; False when someone registered in between (read again).
        A profile that already exists (this face's own earlier attempt) counts as registered.
        ``FaceErasedError`` when the face was erased, ``PersonGoneError`` when the person id was:
        an erasure is never undone by a frame delivered again. ``subject``: the item's id field,
        when it is not a person (``facepipe.review`` registers its new groups the same way)."""
        now = self.clock()
        seq = seen.seq + 1
        subject_id = str(person[subject])
        entry = dict_item(
            {
                "PK": self.pk,
                "SK": keys.stranger_sk(seq),
                "type": "stranger",
                "seq": seq,
                "person_id": subject_id,
                "face_id": face_id,
                "vector": encode_vector(vector),
                "band": band,
                "created_at": now,
                TTL_ATTRIBUTE: int(now + self.window + 3600),
            }
        )
        head = (
            {"ConditionExpression": "attribute_not_exists(PK)"}
            if seen.seq == 0
            else {"ConditionExpression": "seq = :seen", "ExpressionAttributeValues": {":seen": seen.seq}}
        )
        erased = {"ConditionCheck": {"Key": keys.claim_key(face_id), "ConditionExpression": "attribute_not_exists(erased)"}}
        present = [presence_check(subject_id, 0)] if subject == "person_id" else []
        try:
            self.people.transact(
                [
                    {"Put": {"Item": {"PK": self.pk, "SK": "HEAD", "seq": seq}, **head}},
                    {"Put": {"Item": entry, "ConditionExpression": "attribute_not_exists(PK)"}},
                    {"Put": {"Item": dict(person), "ConditionExpression": "attribute_not_exists(PK)"}},
                    *present,
                    erased,
                ]
            )
            return True
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons[-1:] == ["ConditionalCheckFailed"]:
                raise FaceErasedError(face_id) from None
            if present and reasons[3:4] == ["ConditionalCheckFailed"]:
                raise PersonGoneError(subject_id) from None
            if reasons[2:3] == ["ConditionalCheckFailed"] and reasons[:2] == ["None", "None"]:
                return True  # the profile is there: this face registered it before (a redelivery)
            if "ConditionalCheckFailed" in reasons[:2]:
                return False
            raise

    def forget(self, person_id: str) -> int:
        """Remove a person's entries (an erasure); how many there were."""
        removed = 0
        for item in self.people.query(KeyConditionExpression=Key("PK").eq(self.pk) & Key("SK").begins_with("E#"), ConsistentRead=True):
            if item.get("person_id") == person_id:
                self.people.delete({"PK": self.pk, "SK": str(item["SK"])})
                removed += 1
        return removed
