"""What the people table refuses, as errors its callers act on: a person not found or gone
(merged away, being erased), a face held by another person, kept for review, or erased."""

from __future__ import annotations


class PersonNotFoundError(LookupError):
    """No person has that id (or name): never created, or erased."""


class PersonGoneError(PersonNotFoundError):
    """A face or tag was about to be written under a person who was merged away or is being
    erased: place the face again (``PeopleStore.current_person`` follows the merge)."""

    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id} was merged away or is being erased")
        self.person_id = person_id


class FaceClaimedError(RuntimeError):
    """The face is already recorded under another person (an earlier delivery placed it
    differently): it stays theirs, one face is never two people's."""

    def __init__(self, face_id: str, holder: str) -> None:
        super().__init__(f"face {face_id} is held by {holder}")
        self.face_id, self.holder = face_id, holder


class FaceInReviewError(RuntimeError):
    """The face is kept for review (an earlier delivery left it unknown): it stays there until a
    person names it."""

    def __init__(self, face_id: str, group_id: str) -> None:
        super().__init__(f"face {face_id} is in review group {group_id}")
        self.face_id, self.group_id = face_id, group_id


class FaceErasedError(RuntimeError):
    """The face was erased with its person: it is never recorded, indexed or named again."""

    def __init__(self, face_id: str) -> None:
        super().__init__(f"face {face_id} was erased")
        self.face_id = face_id
