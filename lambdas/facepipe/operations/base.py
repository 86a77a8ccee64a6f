"""What every people operation stands on: the recognizer's parts, a person found by id or name,
a recorded face found by id, a face's tag pointed at someone and its image's result rewritten."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from facepipe.exceptions import FacepipeError
from facepipe.messages import result_string
from facepipe.people import Person, PersonNotFoundError
from facepipe.review import ReviewFace

if TYPE_CHECKING:
    from facepipe.messages import FaceResult
    from facepipe.recognition import Recognizer

T = TypeVar("T")


class OperationError(FacepipeError):
    """An operation a person asked for that cannot be done as asked (nothing was changed)."""


class MergeRefused(OperationError):
    """A merge stopped because its target's erasure began: the source is listed again."""


def each(items: Iterable[T], label: str, progress: Callable[[Iterable[T], str], Iterable[T]] | None) -> Iterable[T]:
    return progress(items, label) if progress else items


def negative_id(face_id: str, person_id: str) -> str:
    return f"{face_id}-not-{person_id}"


def where(face: dict[str, Any] | ReviewFace) -> tuple[str, str, int]:
    """(request_id, image digest, face index): where a face's tag is."""
    if isinstance(face, ReviewFace):
        return face.request_id, face.image_digest, face.face_index
    return str(face["request_id"]), str(face.get("image_digest") or ""), int(face["face_index"])


class OperationsBase:
    """The recognizer's parts an operation works on, and the steps several operations share."""

    def __init__(self, recognizer: Recognizer, progress: Callable[[Iterable[Any], str], Iterable[Any]] | None = None) -> None:
        self.recognizer = recognizer
        self.people = recognizer.people
        self.index = recognizer.index
        self.namespace = recognizer.namespace
        self.review = recognizer.review
        self.publisher = recognizer.publisher
        self.progress = progress

    @property
    def bucket(self) -> str:
        return self.recognizer.settings.s3_bucket_name

    def person(self, ref: str) -> Person:
        """A person by id, or by name when exactly one person has it (with their counts)."""
        try:
            return self.people.get_person(ref)
        except PersonNotFoundError:
            pass
        named = self.people.find_by_name(ref)
        if len(named) == 1:
            return self.people.get_person(named[0].person_id)
        if not named:
            raise PersonNotFoundError(f"no person with id or name {ref!r}")
        raise OperationError(f"{len(named)} people are named {ref!r}; use an id: {', '.join(p.person_id for p in named)}")

    def present(self, ref: str) -> Person:
        """A person faces may join: followed through a merge; refused while being erased."""
        person = self.people.current_person(self.person(ref).person_id)
        if person is None:
            raise PersonNotFoundError(f"{ref} is being erased")
        return self.people.get_person(person.person_id)

    def find_face(self, face_id: str) -> dict[str, Any]:
        """A recorded face by id alone: its claim names who holds it (an erased face is not found)."""
        holder = self.people.holder(face_id)
        found = self.people.face(face_id, holder) if holder else None
        if found is None:
            raise PersonNotFoundError(f"no recorded face with id {face_id}")
        return found

    def _retag(self, face: dict[str, Any] | ReviewFace, person_id: str, name: str, review_group: str = "") -> None:
        request_id, digest, index = where(face)
        self.people.retag(request_id, digest, index, person_id, name, review_group=review_group)
        self.refresh_result(request_id, digest)

    def refresh_result(self, request_id: str, digest: str, *, forget_filename: bool = False) -> str:
        """Rewrite one image's stored ``result`` from its tags (after they changed)."""
        tags = [t for t in self.people.media(request_id) if t.get("type") == "tag" and t.get("image_digest") == digest]
        result = result_string([cast("FaceResult", {**t, "index": t["face_index"], "person_id": t.get("person_id")}) for t in tags])
        self.people.set_result(request_id, digest, result, forget_filename=forget_filename)
        return result
