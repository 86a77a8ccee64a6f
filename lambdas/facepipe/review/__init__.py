"""The review: unknown faces kept and grouped, for a person to name once (``Review``: ``keeping``
and letting go, ``grouping``, ``reading``; ``faces``: the words they share).

A face recognition leaves ``unknown`` (too poor to place, matching nobody, or ambiguous) is
kept — its crop, vector, quality, source, request and time — for ``REVIEW_RETENTION_DAYS``
(``KEEP_UNKNOWN_FACES=false`` keeps nothing): the table's TTL removes its items, the bucket's
lifecycle its crop under ``review/``, and a vector whose item is gone is deleted the next time a
query returns it.

**Groups.** A kept face joins the review group of the face it is closest to when that pair
reaches the pair's grouping threshold (``Calibration.group_threshold``: the naming threshold,
capped at a floor measured on camera-sized faces, since a group is looked at before it is named)
and beats the next group by ``group_margin``; otherwise it starts a group of its own. Faces of
one stranger arriving together in several containers (the index shows none of them yet) meet
in the review's own stranger registry (``people.registry``, namespace ``<namespace>-review``):
the first registers its new group, the others find it there and join it. Groups are never joined
automatically: one stranger in two groups costs a second keystroke, two strangers in one group
would give one of them the other's name. Vectors live in the namespace ``<namespace>-review``,
apart from the people's, so an unknown face is never a candidate for a person's match.

Items (``keys``): ``REVIEW#<group>`` / ``META`` (size, first and last seen, sources, cover face;
listed newest first through GSI1) and ``REVIEW#<group>`` / ``FACE#<face_id>``; the face's claim
(``FACE#<face_id>`` / ``CLAIM``) names its group, so it is in one place only.
"""

from facepipe.review.faces import ReviewFace, ReviewGroup, decode_cursor, encode_cursor, group_id_for, review_namespace
from facepipe.review.keeping import Keeping
from facepipe.review.reading import Reading

__all__ = ["Review", "ReviewFace", "ReviewGroup", "decode_cursor", "encode_cursor", "group_id_for", "review_namespace"]


class Review(Keeping, Reading):
    """The faces kept for review: kept, grouped, read, let go."""
