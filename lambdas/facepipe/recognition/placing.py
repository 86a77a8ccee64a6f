"""Who the faces of one image are: each face read, decided and acted on once per round (the
gallery's ``evidence``, ``matching.decide``, the gallery's ``placement``), no two faces as one
person, written, and placed again while people go away.

``Placing.place`` is the one retry loop of placement: a face whose placement finds the gallery
changed under it (an erased person's leftovers were dropped), or whose write finds its person
merged away or erased (``PersonGoneError``), is placed again, at most ``PLACEMENT_TRIES`` times
(then ``PlacementError``: SQS delivers the record again). A face an earlier delivery recorded
stays with whoever holds it; an erased face is unknown and nothing of it is kept; an unknown face
is kept for review (``KEEP_UNKNOWN_FACES``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from facepipe.gallery import PLACEMENT_TRIES, Ask, Evidence, FaceToResolve, Gallery, Placement, PlacementError
from facepipe.matching import decide
from facepipe.messages import FaceResult
from facepipe.people import Person
from facepipe.recognition.results import face_result
from facepipe.review import Review
from facepipe.settings import Settings

Write = Callable[[FaceToResolve, Placement, float], object]


@dataclass
class _Seat:
    """One face of the image in ``Placing.place``: its placement so far, whether it is settled
    (written, or needing no write), whether a clash may still move it, the people it may not be
    (taken by a closer face of the image), and how often its placement or write failed."""

    face: FaceToResolve
    placement: Placement | None = None
    settled: bool = False
    fixed: bool = False  # written or held by an earlier delivery: a clash never moves it
    taken: set[str] = field(default_factory=set)
    failures: int = 0


class Placing:
    def __init__(self, settings: Settings, gallery: Gallery, review: Review) -> None:
        self.settings = settings
        self.gallery = gallery
        self.review = review

    def resolve_frame(self, faces: Sequence[FaceToResolve]) -> tuple[list[FaceResult], set[int], dict[str, Person]]:
        """Every face of one image placed (``place``) and recorded, with one index upsert for all
        the faces that join their person; their settling is left to ``Answering.finish`` (its read
        of the people comes after the upsert). The results, the indices of the faces indexed, and
        the people as placing read them."""
        joining: list[tuple[FaceToResolve, str]] = []

        def record(face: FaceToResolve, placement: Placement, similarity: float) -> None:
            assert placement.person_id is not None  # ``written`` writes only placed faces
            if self.gallery.record(face, placement, similarity):
                joining.append((face, placement.person_id))

        placements = self.place(faces, record)
        self.gallery.add_faces(joining)
        if self.settings.keep_unknown_faces:
            placements = [self.review.keep_unknown(face, placement) for face, placement in zip(faces, placements, strict=True)]
        read = {p.person.person_id: p.person for p in placements if p.person is not None}
        return (
            [face_result(face, placement) for face, placement in zip(faces, placements, strict=True)],
            {f.index for f, _ in joining},
            read,
        )

    def resolve(self, face: FaceToResolve) -> FaceResult:
        """Match ``face`` to a known person, create a new one, or leave it unknown (kept for
        review); record, index and settle it on its own. Repeat-safe: a redelivery finds what the
        first wrote."""
        placement = self.place([face], self.gallery.write)[0]
        if self.settings.keep_unknown_faces:
            placement = self.review.keep_unknown(face, placement)
        return face_result(face, placement)

    def place(self, faces: Sequence[FaceToResolve], write: Write) -> list[Placement]:
        """Every face of one image placed, and written by ``write(face, placement, similarity)``
        when it names a person, no two faces as one person. Each round places the faces that need
        it (``_placed``); when two faces name one person, the closer keeps them (or the one already
        written or held) and the other is placed again without them (its next eligible person, or
        unknown); then the faces placed are written (``Gallery.written``). A face whose placement
        or write finds its person gone is placed again (``PLACEMENT_TRIES``)."""
        seats = [_Seat(face) for face in faces]
        while not all(seat.settled for seat in seats):
            for seat in seats:
                if not seat.settled and seat.failures >= PLACEMENT_TRIES:
                    face = seat.face
                    raise PlacementError(
                        f"face {face.index} of {face.request_id}: the gallery kept changing under it; it will be placed again"
                    )
                if seat.placement is None:
                    seat.placement = self._placed(seat.face, frozenset(seat.taken))
                    seat.failures += seat.placement is None
            named: dict[str, list[_Seat]] = {}
            for seat in seats:
                if seat.placement is not None and seat.placement.person_id:
                    named.setdefault(seat.placement.person_id, []).append(seat)
            for person_id, clash in named.items():
                keeper = max(clash, key=lambda s: (s.fixed, s.placement.decision.similarity))  # type: ignore[union-attr]
                for seat in clash:
                    if seat is not keeper and not seat.fixed:
                        seat.taken.add(person_id)
                        seat.placement = None
            for seat in seats:
                if seat.placement is not None and not seat.settled:
                    seat.placement, seat.settled = self.gallery.written(seat.face, seat.placement, write)
                    seat.fixed = seat.placement is not None and seat.placement.person_id is not None
                    seat.failures += not seat.settled  # its person went away, or it is to be written under who holds it
        return [seat.placement for seat in seats if seat.placement is not None]

    def _placed(self, face: FaceToResolve, exclude: frozenset[str]) -> Placement | None:
        """``face`` placed once, never as one of ``exclude``: what the gallery knows of it,
        decided, acted on; while it is new, decided again with the stranger registry read (its
        rounds are bounded: ``people.registry``). None when the gallery changed under it."""
        evidence: Evidence | None = None
        while True:
            evidence = self.gallery.evidence(face, evidence)
            if evidence is None:
                return None
            decision = decide(
                evidence.candidates, face.quality, self.gallery.calibration, excluded=exclude, negatives=evidence.closest_negatives
            )
            placement = self.gallery.placement(face, decision, evidence, exclude)
            if placement is not Ask.REGISTRY:
                return placement
