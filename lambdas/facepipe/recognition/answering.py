"""The answer to a frame or photo: names filled in, tags written under people still present,
the response built, and sent once.

``Answering.finish`` is one retry loop: it reads the people the results name (settling the faces
``Placing.resolve_frame`` indexed: an erased person's vectors removed), names them, and writes
the tags, each batch conditional on the people it names being present; a person gone since (by
the read or the write) has their faces placed again. ``answer`` sends the response after the unit
of work is recorded, and marks it sent.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from facepipe.gallery import PLACEMENT_TRIES, FaceToResolve, Gallery, PlacementError
from facepipe.messages import FaceResult, ResponseMessage, encode, response_message
from facepipe.names import IDEMPOTENCY_SECONDS
from facepipe.observability import child_logger
from facepipe.people import PeopleStore, Person, PersonGoneError, generated_name
from facepipe.recognition.placing import Placing
from facepipe.recognition.results import ImageRef, Recognised, tag_of
from facepipe.settings import Settings

logger = child_logger()
#: the "response sent" marker is written this many times before the record is let go without it
MARKER_TRIES = 3


class Answering:
    def __init__(self, settings: Settings, people: PeopleStore, gallery: Gallery, placing: Placing, sqs: Callable[[], Any]) -> None:
        self.settings = settings
        self.people = people
        self.gallery = gallery
        self.placing = placing
        self._sqs = sqs

    def finish(
        self,
        image: ImageRef,
        faces: Sequence[FaceToResolve],
        results: list[FaceResult],
        indexed: set[int] | None = None,
        read: dict[str, Person] | None = None,
    ) -> ResponseMessage:
        """Fill in names, write the tags, build the response (docs/contracts.md: response). Tags
        are written only under people still present: a person gone since (found by the read of
        the people, or by the tags' write, conditional on them) has their faces placed again,
        and the tags written again, at most ``PLACEMENT_TRIES`` times."""
        unsettled = set(indexed or ())
        for _ in range(PLACEMENT_TRIES):
            people = self._people_named(faces, results, unsettled, read)
            gone = {pid for r in results if (pid := r["person_id"]) and pid not in people}
            unsettled, read = set(), None  # what is placed again is settled by ``Placing.resolve``
            if not gone:
                for result in results:
                    placed_as = result["person_id"]
                    result["name"] = (people[placed_as].name or generated_name(placed_as)) if placed_as else ""
                response = response_message(image.request_id, image.filename, results)
                try:
                    self.people.tag_media(
                        image.request_id, image.digest, image.filename, image.source, response["result"], [tag_of(r) for r in results]
                    )
                    return response
                except PersonGoneError as went:
                    gone = {went.person_id}
            results = [self.placing.resolve(f) if r["person_id"] in gone else r for f, r in zip(faces, results, strict=True)]
        raise PlacementError(f"{image.request_id}: the people in it kept going away; it will be answered again")

    def _people_named(
        self, faces: Sequence[FaceToResolve], results: list[FaceResult], unsettled: set[int], read: dict[str, Person] | None
    ) -> dict[str, Person]:
        """The people ``results`` name who are present. The read settles the faces ``unsettled``
        (indexed by ``Placing.resolve_frame``): a person merged away or erased since has those
        faces' vectors settled (an erased person's removed). When no face was indexed and placing
        ``read`` every person named, that read stands (one call less): a person gone since is
        caught by the tags' write, conditional on them."""
        named = {r["person_id"] for r in results if r["person_id"]}
        known = read or {}
        if not unsettled and all(pid in known and known[pid].present for pid in named):
            return {pid: known[pid] for pid in named}
        people = self.people.get_people(named)
        for gone_id in {pid for pid in named if pid not in people or not people[pid].present}:
            own = [f for f, r in zip(faces, results, strict=True) if r["person_id"] == gone_id and f.index in unsettled]
            with contextlib.suppress(PersonGoneError):
                self.gallery.settle(gone_id, own, erased=gone_id not in people or people[gone_id].deleting)
        return {pid: person for pid, person in people.items() if person.present}

    def answer(self, recognised: Recognised, earlier: bool = True) -> bool:
        """Send the response once. It is sent after the unit of work is recorded done (so a
        retry after a crash returns the *stored* response, never a second, different one); a
        marker written after the send keeps a later redelivery from sending it again. False
        when an earlier delivery sent it. (A crash between the send and the marker can still
        send the same response twice: a standard queue has no exactly-once send.)
        ``earlier=False``: this delivery has just done the work (there was no stored result),
        so no earlier delivery sent it and the marker is not read (one call less per frame)."""
        request_id = recognised.response["request_id"]
        if earlier and self.people.was_sent(recognised.source, request_id, recognised.digest):
            return False
        self._sqs().send_message(QueueUrl=self.settings.response_queue_url, MessageBody=encode(recognised.response))
        for _ in range(MARKER_TRIES):  # sent is sent: failing the record now would only send it again
            try:
                self.people.mark_sent(recognised.source, request_id, recognised.digest, int(time.time()) + IDEMPOTENCY_SECONDS)
                break
            except Exception as exc:
                logger.warning("response sent, its marker not written yet", request_id=request_id, error=repr(exc))
        return True
