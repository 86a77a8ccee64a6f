"""The gallery: the people facepipe knows, and every face it holds of them (``Gallery``:
``evidence`` what it knows about a face, ``placing`` who the face is once decided, ``writing``
it; ``faces``: the words they share).

A person's faces live in three places kept in step here: the vector index (plus the vectors
this container upserted lately, which Pinecone may not return yet: ``index.recent``), the
people table (profile, face records with their quality; ``people.registry`` for people created
lately), and the photo bucket (the crop of each indexed face, so it can be re-embedded later).

``evidence`` reads what deciding a face needs and ``placement`` acts on the decision
(``matching.decide``, made between them by ``recognition.placing``), following merges (a merged-away person
redirects to the one it was merged into) and treating an erased person's leftovers (vectors
Pinecone still returns, this container's recent buffer) as absent while cleaning them. The
candidates' people are read only when one of them could name the face: below every threshold
the answer is ``new`` or ``unknown`` whoever they belong to (one consistent batch read of the
candidates' people saved per unknown face; an erased person's leftovers are then cleaned the
next time they come close enough to matter, and until Pinecone drops them they may still set
an unknown face's reported best similarity, never a name). A face the index calls new goes
through the stranger registry, so that frames of one new face in several containers make one
person. ``write`` records the face under its person (conditional
on the person being present) and then indexes it; ``record``, ``add_faces`` and ``settle`` are
the same steps for a whole frame (one upsert; the read after it is the one that names the people).
"""

from facepipe.gallery.evidence import Evidence, Knowing
from facepipe.gallery.faces import PLACEMENT_TRIES, FaceToResolve, Placement, PlacementError, indexed_metadata, negatives_namespace
from facepipe.gallery.placing import Ask, Placing
from facepipe.gallery.writing import Writing

__all__ = [
    "PLACEMENT_TRIES",
    "Ask",
    "Evidence",
    "FaceToResolve",
    "Gallery",
    "Placement",
    "PlacementError",
    "indexed_metadata",
    "negatives_namespace",
]


class Gallery(Knowing, Placing, Writing):
    """The people facepipe knows and their indexed faces: what it knows of a face, placing it,
    writing it."""
