"""A placed face written: recorded under its person (conditional on the person being present),
indexed when it joins their indexed faces (one upsert for a whole frame, its crop kept so it can
be re-embedded by another model), and settled when a read after indexing finds the person gone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from facepipe.gallery.faces import FaceToResolve, Placement, indexed_metadata
from facepipe.gallery.parts import GalleryParts
from facepipe.index import Vector
from facepipe.matching import Decision
from facepipe.people import FaceRecord, PersonGoneError
from facepipe.people.errors import FaceClaimedError, FaceErasedError, FaceInReviewError
from facepipe.storage import delete_every_version, face_crop_key, put_jpeg, sighting_crop_key
from facepipe.vectors import encode_vector

if TYPE_CHECKING:
    from collections.abc import Sequence


class Writing(GalleryParts):
    """A placed face recorded, indexed, settled; enrollment."""

    def record(self, face: FaceToResolve, placement: Placement, similarity: float, enrolled: bool = False) -> bool:
        """Record the face under its person (``PersonGoneError`` when the person was merged away
        or erased meanwhile: place it again; ``FaceClaimedError`` when an earlier delivery
        recorded it under someone else; ``FaceErasedError``); whether it joins the person's
        indexed faces. A repeat answers what the first delivery recorded."""
        assert placement.person_id is not None
        record = FaceRecord(
            face_id=face.face_id,
            person_id=placement.person_id,
            request_id=face.request_id,
            face_index=face.index,
            source=face.source,
            box=list(face.box),
            similarity=similarity,
            model=self.model,
            preprocessing=self.preprocessing,
            indexed=placement.indexed,
            crop_key=(face_crop_key(face.face_id) if placement.indexed else sighting_crop_key(face.face_id)) if self.bucket else "",
            enrolled=enrolled,
            quality=face.quality.as_dict(),
            image_digest=face.image_digest,
            vector=encode_vector(face.vector),
        )
        if self.people.record_face(record):
            if self.bucket and not placement.indexed:  # an indexed face's crop goes with its vector (add_faces)
                put_jpeg(self.s3, self.bucket, record.crop_key, face.crop)
            return placement.indexed
        earlier = self.people.face(face.face_id, placement.person_id)
        return bool(earlier and earlier.get("indexed"))

    def written(
        self, face: FaceToResolve, placement: Placement, write: Callable[[FaceToResolve, Placement, float], object]
    ) -> tuple[Placement | None, bool]:
        """``placement`` written by ``write(face, placement, similarity)`` when it names a person,
        and what the face is then, with whether it is settled: as placed; unknown when it was
        erased (nothing of it kept); in review when an earlier delivery kept it there; with who
        holds it when an earlier delivery recorded it under someone else (to be written under
        them, unless a merge in progress moves it to them: settled); None when its person went
        away meanwhile (merged or erased): place it again."""
        if placement.person_id is None:
            return placement, True
        try:
            write(face, placement, round(placement.decision.similarity, 4))
            return placement, True
        except PersonGoneError:
            return None, False
        except FaceErasedError:
            return placement.erased(), True
        except FaceInReviewError as kept:
            return placement.in_review(kept.group_id), True
        except FaceClaimedError as claimed:
            holder = self.people.current_person(claimed.holder)
            if holder is None:
                return placement.erased(), True  # its holder is being erased, and the face with them
            held = replace(placement.decision, person_id=holder.person_id, reason="recorded earlier")
            return Placement(held, holder.person_id, person=holder), holder.person_id != claimed.holder

    def write(self, face: FaceToResolve, placement: Placement, similarity: float, enrolled: bool = False) -> None:
        """One face: ``record``, index it if it joins its person's faces, then ``settle`` it."""
        assert placement.person_id is not None
        if self.record(face, placement, similarity, enrolled):
            self.add_faces([(face, placement.person_id)], enrolled)
            person = self.people.current_person(placement.person_id)
            if person is None or person.person_id != placement.person_id:
                self.settle(placement.person_id, [face], erased=person is None)

    def settle(self, person_id: str, faces: Sequence[FaceToResolve], *, erased: bool) -> None:
        """``faces`` were indexed under ``person_id``, and a read made *after* indexing found the
        person merged away or erased: the admin tool may have passed these vectors before they
        existed. Erased: remove them (vectors, this container's buffer, crops). Either way
        ``PersonGoneError``: place the faces again (a merge is followed then)."""
        if erased:
            self.recent.forget_person(person_id)
            self.index.delete([f.face_id for f in faces], self.namespace)
            for face in faces if self.bucket else ():
                delete_every_version(self.s3, self.bucket, face_crop_key(face.face_id))
        raise PersonGoneError(person_id)

    def add_faces(self, faces: Sequence[tuple[FaceToResolve, str]], enrolled: bool = False) -> None:
        """Index each ``(face, person_id)`` as one of that person's faces: its crop kept, all
        vectors in one upsert (a crowd frame is one index call, not one per face)."""
        if not faces:
            return
        vectors = []
        for face, person_id in faces:
            metadata = indexed_metadata(
                person_id,
                face.source,
                face.request_id,
                self.model,
                self.preprocessing,
                enrolled=enrolled,
                band=face.quality.band,
                size=face.quality.size,
            )
            if self.bucket:  # keep the crop: another model can re-embed the face without the photo
                put_jpeg(self.s3, self.bucket, face_crop_key(face.face_id), face.crop)
            vectors.append(Vector(face.face_id, face.vector, metadata))
        self.index.upsert(vectors, self.namespace)
        for vector in vectors:
            self.recent.add(vector.id, vector.values, vector.metadata)

    def enroll(self, person_id: str, name: str, face: FaceToResolve) -> str:
        """Add ``face`` to person ``person_id`` (created with ``name`` if new); returns the face id."""
        self.people.create_person(person_id, name, face.request_id)
        placement = Placement(Decision("match", person_id, 1.0, None, 0.0, face.quality.band, "enrolled"), person_id, indexed=True)
        self.write(face, placement, 1.0, enrolled=True)
        return face.face_id
