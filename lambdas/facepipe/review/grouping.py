"""Which group a kept face joins: the closest group's when that pair reaches the grouping
threshold and beats the next group by the margin; else one started moments ago in another
container (the review's stranger registry), else a group of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from facepipe.detection.quality import worse
from facepipe.matching import Calibration
from facepipe.names import TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.review.faces import group_id_for
from facepipe.review.parts import ReviewParts

if TYPE_CHECKING:
    from facepipe.gallery import FaceToResolve

#: review candidates asked of the index for one kept face
REVIEW_TOP_K = 16


def group_for(review: ReviewParts, face_id: str, vector: np.ndarray, band: str) -> tuple[str | None, float]:
    """The group a face joins (None: it starts one) and its similarity to that group."""
    found = {m.id: m for m in review.index.query(vector, REVIEW_TOP_K, review.namespace)}
    for match in review.recent.matches(vector):
        found.setdefault(match.id, match)
    found.pop(face_id, None)
    while True:
        group, score = closest(
            review.calibration,
            [(str(m.metadata.get("group_id") or ""), m.score, str(m.metadata.get("band", "poor"))) for m in found.values()],
            band,
        )
        if group is None or review.people.get(keys.review_meta_key(group)) is not None:
            return group, score
        # its items expired (REVIEW_RETENTION_DAYS) or were named: clean its vectors, look again
        stale = [i for i, m in found.items() if m.metadata.get("group_id") == group]
        review.index.delete(stale, review.namespace)
        for face in stale:
            found.pop(face)


def closest(calibration: Calibration, matches: list[tuple[str, float, str]], band: str) -> tuple[str | None, float]:
    """The group of the closest of ``matches`` (group, similarity, band) when it is close enough
    and beats the next group by the margin (``Calibration.group_threshold``, ``group_margin``)."""
    best: dict[str, tuple[float, str]] = {}
    for group, score, their_band in matches:
        if group and (group not in best or score > best[group][0]):
            best[group] = (score, their_band)
    ranked = sorted(best.items(), key=lambda g: -g[1][0])
    if not ranked:
        return None, 0.0
    group, (score, their_band) = ranked[0]
    threshold = calibration.group_threshold(worse(band, their_band))  # type: ignore[arg-type]
    second = ranked[1][1][0] if len(ranked) > 1 else None
    if score >= threshold and (second is None or score - second >= calibration.group_margin):
        return group, score
    return None, 0.0


def new_group(review: ReviewParts, face: FaceToResolve) -> tuple[str, float]:
    """The group a face the index finds no group for joins: one started moments ago elsewhere
    (registered, not yet shown by the index: ``people.registry``, the same protocol as new
    people's), or its own, registered so that the next face finds it."""
    band = face.quality.band
    for seen in review.registry.rounds():
        mine = [s for s in seen.strangers if s.face_id == face.face_id]
        if mine:  # an earlier delivery of this face started it
            return mine[0].person_id, 0.0
        group, score = closest(review.calibration, [(s.person_id, float(s.vector @ face.vector), s.band) for s in seen.strangers], band)
        if group is not None:
            return group, score
        started = group_id_for(face.face_id)
        meta = {**keys.review_meta_key(started), "type": "review_group", "group_id": started, "size": 0, TTL_ATTRIBUTE: review.expiry()}
        if review.registry.register(seen, meta, face.face_id, face.vector, band, subject="group_id"):
            return started, 0.0
    return group_id_for(face.face_id), 0.0  # strangers kept arriving together: a group of its own
