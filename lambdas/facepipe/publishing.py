"""What recognition decided, published on an EventBridge bus for anything that wants to react.

After a frame's or photo's unit of work is recorded (its response stored), recognition puts one
event per face on ``EVENT_BUS_NAME`` (``source`` "facepipe"): ``Face Recognized``, ``Unknown
Face`` (with its review group) or ``New Person``, and an arrival when the face's person (or an
unknown face's review group) is seen at a source after being absent from it for
``ARRIVAL_COOLDOWN_SECONDS``: ``Person Arrived`` or ``Unknown Visitor``. People's operations put
``Person Renamed``, ``Person Merged``, ``Person Erased``, ``Review Assigned``, ``Review Dismissed``.

**Once, and at least once.** Delivery is at least once (EventBridge's, and a record retried
after a failure publishes again), so every event carries a stable ``id`` made from what it is
about: a face's events from its face id, an arrival from the request that caused it. A consumer
drops an ``id`` it has seen.

**One arrival per arrival, across containers.** An arrival is decided by one conditional write
per (source, subject): ``ARRIVAL#<source>`` / ``<subject>`` holds when the subject was last seen
there; the write that finds it absent, or older than the cooldown, is the arrival, and records
the request that caused it (so that request's retry decides the same, and its event keeps its
id) and whether it was published: a sighting that dies between the two leaves it unpublished,
and the next sighting publishes it (same id). Every sighting refreshes ``seen_at`` (a person who
stays is not arriving again); the item expires by TTL a cooldown after the last sighting.

Events carry no crop and no vector; the detail schema is versioned (``v``) and documented in
docs/events.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from facepipe import aws
from facepipe.messages import FaceResult, ResponseMessage
from facepipe.names import TTL_ATTRIBUTE
from facepipe.observability import Metric, MetricUnit, child_logger, metrics
from facepipe.people import PeopleStore

logger = child_logger()

SOURCE = "facepipe"
DETAIL_VERSION = 1
#: EventBridge takes at most this many entries per PutEvents
PUT_LIMIT = 10
#: PutEvents entries that failed (throttled, internal) are sent again this many times
PUT_TRIES = 5


class EventType:
    FACE_RECOGNIZED = "Face Recognized"
    UNKNOWN_FACE = "Unknown Face"
    NEW_PERSON = "New Person"
    PERSON_ARRIVED = "Person Arrived"
    UNKNOWN_VISITOR = "Unknown Visitor"
    PERSON_RENAMED = "Person Renamed"
    PERSON_MERGED = "Person Merged"
    PERSON_ERASED = "Person Erased"
    REVIEW_ASSIGNED = "Review Assigned"
    REVIEW_DISMISSED = "Review Dismissed"


ALL_TYPES = tuple(v for k, v in vars(EventType).items() if k.isupper())


class PublishError(RuntimeError):
    """EventBridge kept refusing some entries: the record is retried (the ids dedupe)."""


def event_id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def arrival_key(source: str, subject: str) -> dict[str, str]:
    return {"PK": f"ARRIVAL#{source}", "SK": subject}


class Publisher:
    """Puts events on the bus (nothing at all when ``bus`` is empty)."""

    def __init__(
        self,
        bus: str,
        people: PeopleStore,
        cooldown_seconds: float,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.people = people
        self.cooldown = cooldown_seconds
        self._client = client
        self.clock = clock

    @property
    def client(self) -> Any:
        return self._client or aws.events()

    @property
    def enabled(self) -> bool:
        return bool(self.bus)

    # --- recognition's decisions ------------------------------------------------------------
    def recognition(self, response: ResponseMessage, source: str, captured_at: str | None = None) -> int:
        """Publish the events of one recognised frame or photo (its response, the source that sent
        it); how many."""
        if not self.enabled:
            return 0
        entries: list[tuple[str, dict[str, Any]]] = []
        arrivals: list[tuple[str, str]] = []
        base = {"source": source, "request_id": response["request_id"], "filename": response.get("filename", "")}
        if captured_at:
            base["captured_at"] = captured_at
        for face in response["faces"]:
            detail = {**base, **_face_detail(face)}
            face_id = str(face.get("face_id", ""))
            if face["person_id"] and face["new_person"]:
                entries.append((EventType.NEW_PERSON, {**detail, "id": event_id("new", str(face["person_id"]))}))
            elif face["person_id"]:
                entries.append((EventType.FACE_RECOGNIZED, {**detail, "id": event_id("recognized", face_id)}))
            else:
                entries.append((EventType.UNKNOWN_FACE, {**detail, "id": event_id("unknown", face_id)}))
            subject = str(face["person_id"] or (f"review:{face['review_group']}" if face.get("review_group") else ""))
            if subject:
                arrival = self._arrival(source, subject, response["request_id"])
                if arrival:
                    kind = EventType.PERSON_ARRIVED if face["person_id"] else EventType.UNKNOWN_VISITOR
                    entries.append((kind, {**detail, "id": arrival, "arrived_after_seconds": self.cooldown}))
                    arrivals.append((subject, arrival))
        self.put(entries)
        for subject, arrival in arrivals:
            self._published(source, subject, arrival)
        return len(entries)

    def _arrival(self, source: str, subject: str, request_id: str) -> str:
        """The id of the arrival this sighting publishes (see the module docstring), else ""."""
        now = int(self.clock())  # whole seconds: DynamoDB numbers, and a cooldown counts in seconds
        arrival = event_id("arrival", source, subject, request_id)
        stamp = {":now": now, ":ttl": int(now + self.cooldown + 60)}
        cutoff = int(now - self.cooldown)
        try:  # the common case, in one write: here already, their arrival published by someone else
            self.people.update(
                arrival_key(source, subject),
                UpdateExpression="SET seen_at = :now, #ttl = :ttl",
                ConditionExpression="seen_at >= :cutoff AND published = :yes AND arrived_by <> :me",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={**stamp, ":cutoff": cutoff, ":yes": True, ":me": request_id},
            )
            return ""
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        try:
            self.people.update(
                arrival_key(source, subject),
                UpdateExpression="SET seen_at = :now, arrived_by = :me, arrival_id = :id, published = :no, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(PK) OR seen_at < :cutoff OR arrived_by = :me",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={**stamp, ":me": request_id, ":id": arrival, ":cutoff": cutoff, ":no": False},
            )
            return arrival
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        present = self.people.update(  # here already: still here
            arrival_key(source, subject),
            UpdateExpression="SET seen_at = :now, #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues=stamp,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        # an arrival whose sighting died before publishing it is published by the next one (same id)
        return "" if present.get("published", True) else str(present["arrival_id"])

    def _published(self, source: str, subject: str, arrival: str) -> None:
        try:
            self.people.update(
                arrival_key(source, subject),
                UpdateExpression="SET published = :yes",
                ConditionExpression="arrival_id = :id",
                ExpressionAttributeValues={":yes": True, ":id": arrival},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise  # else a later arrival took its place

    # --- people's operations ----------------------------------------------------------------
    def operation(self, kind: str, detail: Mapping[str, Any], *identity: str) -> None:
        """Publish one operation's event; its id from ``identity`` (what makes it this event)."""
        if self.enabled:
            self.put([(kind, {**detail, "id": event_id(kind, *identity)})])

    # --- the bus ------------------------------------------------------------------------------
    def put(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """PutEvents in batches, sending failed entries again; ``PublishError`` when some keep failing."""
        if not entries:
            return
        when = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        pending = [
            {
                "Source": SOURCE,
                "DetailType": kind,
                "Detail": json.dumps({"v": DETAIL_VERSION, **detail}, separators=(",", ":"), default=str),
                "EventBusName": self.bus,
                "Time": when,
            }
            for kind, detail in entries
        ]
        for attempt in range(PUT_TRIES):
            failed: list[dict[str, Any]] = []
            for start in range(0, len(pending), PUT_LIMIT):
                chunk = pending[start : start + PUT_LIMIT]
                reply = self.client.put_events(Entries=chunk)
                if reply.get("FailedEntryCount"):
                    failed += [e for e, r in zip(chunk, reply["Entries"], strict=True) if r.get("ErrorCode")]
            metrics.add_metric(name=Metric.EVENTS_PUBLISHED, unit=MetricUnit.Count, value=len(pending) - len(failed))
            if not failed:
                return
            pending = failed
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise PublishError(f"EventBridge refused {len(pending)} event(s) {PUT_TRIES} times; the record is retried")


def _face_detail(face: FaceResult) -> dict[str, Any]:
    quality = face.get("quality") or {}
    detail: dict[str, Any] = {
        "face_id": face.get("face_id", ""),
        "person_id": face["person_id"],
        "name": face["name"],
        "similarity": face["similarity"],
        "quality": quality.get("band", ""),
        "box": face["box"],
    }
    if face.get("review_group"):
        detail["review_group"] = face["review_group"]
    return detail
