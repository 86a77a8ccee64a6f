"""Changes to who a face is: rename, merge, unassign.

A merge starts with one transaction that recognition honours at once (a tombstone that
redirects) and that checks what it relies on (the target is present), then works face by face.
A face's move is checked before anything of it is rewritten: its item moves to the target first
(refused, nothing changed, when the target went away), noted ``pending`` until its vector, tag
and the image's result follow. The faces still under the source, and the target's faces still
pending from it, are the work left, so a re-run after a crash finishes it.
"""

from __future__ import annotations

from typing import Any

from facepipe.operations.base import MergeRefused, OperationError, OperationsBase, each
from facepipe.people import Person, PersonGoneError, PersonNotFoundError, generated_name, person_id_for
from facepipe.publishing import EventType


class Changes(OperationsBase):
    """Rename, merge, unassign."""

    def rename(self, ref: str, name: str) -> Person:
        if not name.strip():
            raise OperationError("a name is required")
        person = self.person(ref)
        self.people.rename(person.person_id, name.strip())
        renamed = self.people.get_person(person.person_id)
        self.publisher.operation(
            EventType.PERSON_RENAMED,
            {"person_id": person.person_id, "name": renamed.name, "previous_name": person.name},
            person.person_id,
            renamed.name,
        )
        return renamed

    def merge(self, source_ref: str, target_ref: str) -> Person:
        """Fold ``source`` into ``target``: its faces, vectors and tags move, its profile becomes a
        tombstone that redirects recognition (kept ``TOMBSTONE_SECONDS`` from when the merge
        completes). Re-runnable. When the target's erasure begins meanwhile, the merge stops:
        the faces already moved are the target's (erased with them), the source is listed again
        with the rest (``MergeRefused``)."""
        source, target = self.person(source_ref), self.person(target_ref)
        current = self.people.current_person(target.person_id)
        if current is None:
            raise PersonNotFoundError(f"{target.person_id} is being erased: finish `people delete` first")
        target = current
        if source.person_id == target.person_id:
            raise OperationError("cannot merge a person into themselves")
        if source.deleting:
            raise PersonNotFoundError(f"{source.person_id} is being erased: finish `people delete` first")
        self.people.mark_merged(source.person_id, target.person_id)
        faces = [*self.people.faces_of(source.person_id), *self._pending(target.person_id, source.person_id)]
        try:
            for face in each(faces, f"merging {source.person_id}", self.progress):
                self._move(face, target)
        except PersonGoneError as gone:
            if gone.person_id != target.person_id:
                raise
            self.people.restore_merged(source.person_id, target.person_id, source.name)
            left = len(self.people.faces_of(source.person_id))
            raise MergeRefused(
                f"{target.person_id} is being erased: the merge stopped; faces it had moved are erased with them, "
                f"{source.name} ({source.person_id}) keeps the other {left}"
            ) from None
        self.people.finish_merge(source.person_id, target.person_id)
        self.recognizer.gallery.registry.forget(source.person_id)  # its faces are the target's now
        self.recognizer.gallery.recent.forget_person(source.person_id)
        detail = {"person_id": source.person_id, "into": target.person_id, "name": target.name}
        self.publisher.operation(EventType.PERSON_MERGED, detail, source.person_id, target.person_id)
        return self.people.get_person(target.person_id)

    def unassign(self, face_id: str) -> Person:
        """Move one wrongly matched face out into a person of its own (a new, generated name).
        A face whose person is being merged is refused until the merge is finished."""
        face = self.find_face(face_id)
        person_id = person_id_for(face_id)
        if face["person_id"] == person_id:
            if face.get("pending"):
                self._move(face, self.people.get_person(person_id))  # finish an interrupted unassign
            return self.people.get_person(person_id)
        holder = self.people.profile(str(face["person_id"]))
        if holder is not None and holder.merged_into:
            raise OperationError(
                f"face {face_id} belongs to {holder.person_id}, being merged into {holder.merged_into}: "
                f"finish the merge first (`facepipe people merge {holder.person_id} {holder.merged_into}`), then unassign"
            )
        self.people.create_person(person_id, generated_name(person_id), str(face["request_id"]))
        self._move(face, self.people.get_person(person_id))
        return self.people.get_person(person_id)

    def _pending(self, person_id: str, moved_from: str) -> list[dict[str, Any]]:
        """``person_id``'s faces whose move from ``moved_from`` is not finished (an interrupted merge)."""
        return [f for f in self.people.faces_of(person_id) if f.get("pending") == moved_from]

    def _move(self, face: dict[str, Any], target: Person) -> None:
        """One face to ``target``: the face item (checked against the target being present), then
        its vector, its tag and the image's result, then the note that it is done."""
        if face["person_id"] != target.person_id:
            self.people.move_face(face, target.person_id)
        if face.get("indexed"):
            self.index.update_metadata([face["face_id"]], {"person_id": target.person_id}, self.namespace)
        self._retag(face, target.person_id, target.name)
        self.people.moved(target.person_id, str(face["face_id"]))
