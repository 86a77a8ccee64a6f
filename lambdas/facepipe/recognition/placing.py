"""Who the faces of one image are: placed jointly, written, placed again while people go away.

``Placing.place`` is the one retry loop of placement: ``Gallery.place`` makes one attempt (it
answers None when the gallery changed under it: an erased person's leftovers were dropped), the
write that records a face under its person may find the person merged away or erased
(``PersonGoneError``), and either way the face is placed again, at most ``PLACEMENT_TRIES``
times (then ``PlacementError``: SQS delivers the record again). A face an earlier delivery
recorded stays with whoever holds it; an erased face is unknown and nothing of it is kept; an
unknown face is kept for review (``KEEP_UNKNOWN_FACES``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from facepipe.gallery import PLACEMENT_TRIES, FaceToResolve, Gallery, Placement, PlacementError
from facepipe.messages import FaceResult
from facepipe.people import PeopleStore, Person, PersonGoneError
from facepipe.people.errors import FaceClaimedError, FaceErasedError, FaceInReviewError
from facepipe.recognition.results import face_result
from facepipe.review import Review
from facepipe.settings import Settings


class Placing:
    def __init__(self, settings: Settings, people: PeopleStore, gallery: Gallery, review: Review) -> None:
        self.settings = settings
        self.people = people
        self.gallery = gallery
        self.review = review

    def place(
        self,
        face: FaceToResolve,
        write: Callable[[FaceToResolve, Placement, float], object],
        first: Placement | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> Placement:
        """``face`` placed (``first``, when already placed; never as one of ``exclude``) and, when
        it names a person, written by ``write(face, placement, similarity)``; placed again while
        its person goes away (merged or erased) meanwhile. A face an earlier delivery recorded
        stays with who holds it (followed through a merge in progress, which moves it), one it
        kept for review stays there; an erased face is unknown, and nothing of it is kept."""
        for _ in range(PLACEMENT_TRIES):
            placement = first or self.gallery.place(face, exclude)
            first = None
            if placement is None:
                continue  # the gallery changed under it: place again
            while placement.person_id is not None:
                try:
                    write(face, placement, round(placement.decision.similarity, 4))
                    return placement
                except PersonGoneError:
                    break
                except FaceErasedError:
                    return placement.erased()
                except FaceInReviewError as kept:
                    return placement.in_review(kept.group_id)
                except FaceClaimedError as claimed:
                    holder = self.people.current_person(claimed.holder)
                    if holder is None:
                        return placement.erased()  # its holder is being erased, and the face with them
                    held = replace(placement.decision, person_id=holder.person_id, reason="recorded earlier")
                    placement = Placement(held, holder.person_id, person=holder)
                    if holder.person_id != claimed.holder:
                        return placement  # a merge in progress moves the face to them
            else:
                return placement
        raise PlacementError(f"face {face.index} of {face.request_id}: the gallery kept changing under it; it will be placed again")

    def resolve(self, face: FaceToResolve) -> FaceResult:
        """Match ``face`` to a known person, create a new one, or leave it unknown (kept for
        review); record, index and settle it on its own. Repeat-safe: a redelivery finds what the
        first wrote."""
        return face_result(face, self.keep(face, self.place(face, self.gallery.write)))

    def place_jointly(self, faces: Sequence[FaceToResolve]) -> tuple[list[Placement | None], list[frozenset[str]]]:
        """Every face of one image placed, no two as one person: when two faces name the same
        person, the closer keeps them and the other is placed again without them (its next
        eligible person, or unknown). The first placements (None: to be placed again by
        ``place``), and the people each face may not be."""
        placements = [self.gallery.place(face) for face in faces]
        taken: list[set[str]] = [set() for _ in faces]
        for _ in range(len(faces)):
            named: dict[str, list[int]] = {}
            for i, placement in enumerate(placements):
                if placement is not None and placement.person_id:
                    named.setdefault(placement.person_id, []).append(i)
            clashes = {person: faces_ for person, faces_ in named.items() if len(faces_) > 1}
            if not clashes:
                break
            for person, clash in clashes.items():
                keeper = max(clash, key=lambda i: placements[i].decision.similarity)  # type: ignore[union-attr]
                for i in clash:
                    if i != keeper:
                        taken[i].add(person)
                        placements[i] = self.gallery.place(faces[i], frozenset(taken[i]))
        return placements, [frozenset(t) for t in taken]

    def resolve_frame(self, faces: Sequence[FaceToResolve]) -> tuple[list[FaceResult], set[int], dict[str, Person]]:
        """``resolve`` for every face of one image, placed jointly (``place_jointly``), with one
        index upsert for all the faces that join their person; their settling is left to
        ``finish`` (its read of the people comes after the upsert). The results, the indices of
        the faces indexed, and the people as placing read them."""
        joining: list[tuple[FaceToResolve, str]] = []

        def record(face: FaceToResolve, placement: Placement, similarity: float) -> None:
            assert placement.person_id is not None  # ``_placed`` writes only placed faces
            if self.gallery.record(face, placement, similarity):
                joining.append((face, placement.person_id))

        first, taken = self.place_jointly(faces)
        placements = [
            (face, self.keep(face, self.place(face, record, placement, exclude)))
            for face, placement, exclude in zip(faces, first, taken, strict=True)
        ]
        self.gallery.add_faces(joining)
        read = {p.person.person_id: p.person for _, p in placements if p.person is not None}
        return [face_result(face, placement) for face, placement in placements], {face.index for face, _ in joining}, read

    def keep(self, face: FaceToResolve, placement: Placement) -> Placement:
        """An unknown face kept for review (``KEEP_UNKNOWN_FACES``), with its group."""
        if placement.person_id is not None or placement.review_group or placement.decision.reason == "erased":
            return placement
        if not self.settings.keep_unknown_faces:
            return placement
        group = self.review.keep(face)
        return placement.in_review(group) if group else placement.erased()
