"""Quality-aware matching: which person a face is, a new person, or ``unknown`` (answered with
no person: ``person_id`` null).

A person is several indexed faces; a person's score is the similarity of their closest face
(best-of: measured better than the mean of the two closest, 696 vs 653 correct at 0 wrong
names on the calibration sweep). A face is that person only when

* the score reaches the threshold of the pair's quality band (the worse of the probe's and
  the matched face's band: smaller, blurrier, more turned faces need more similarity), and
* it beats the second-best *person* by ``margin`` (look-alikes are left unnamed).

A face that matches nobody becomes a new person only when its own quality is ``good``
(it can be recognised again); anything else is ``unknown`` and creates nobody. A wrong
name is the worst answer; ``unknown`` or a new person is always preferred to it.

Thresholds are cosine similarities of unit vectors, per model: each model's ``Calibration`` is
part of its spec (``facepipe.embedding.models``), with how it was measured;
``facepipe.embedding.models.calibration_for`` reads it and moves it to the thresholds the settings set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from facepipe.detection.quality import Band, FaceQuality, worse

#: a person keeps at most this many indexed faces (enrolled + confident sightings)
MAX_FACES_PER_PERSON = 16
#: candidates asked of the index: enough to see past one person's faces to the second person
TOP_K = 2 * MAX_FACES_PER_PERSON + 8


@dataclass(frozen=True)
class Calibration:
    """Similarity a match needs per quality band, the margin over the second person, and the
    similarity above which a new sighting adds nothing to a person (a near-duplicate)."""

    good: float
    fair: float
    poor: float
    margin: float
    near_duplicate: float
    #: review groups (facepipe.review): two unknown faces share a group at this similarity when
    #: naming would need more (a group is looked at before it is named; naming is not), and a
    #: face joins its closest group only when it beats the next by ``group_margin``
    group_floor: float = 1.0
    group_margin: float = 0.01

    def threshold(self, band: Band) -> float:
        return {"good": self.good, "fair": self.fair, "poor": self.poor}[band]

    @property
    def lowest(self) -> float:
        """The lowest similarity any pair needs to name a face: below it, whoever the candidates
        belong to now (merges, erasures), ``decide`` answers ``new`` or ``unknown``."""
        return min(self.good, self.fair, self.poor)

    def group_threshold(self, band: Band) -> float:
        """The similarity a pair of ``band`` needs to share a review group."""
        return min(self.threshold(band), self.group_floor)

    def shifted_to(
        self, good: float | None, margin: float | None = None, fair: float | None = None, poor: float | None = None
    ) -> Calibration:
        """The same band steps from another ``good`` threshold (FACE_SIMILARITY_THRESHOLD); a
        band given its own value (FACE_SIMILARITY_THRESHOLD_FAIR, _POOR) takes it."""
        step = 0.0 if good is None else good - self.good
        return dataclasses.replace(
            self,
            good=self.good + step,
            fair=min(1.0, self.fair + step) if fair is None else fair,
            poor=min(1.0, self.poor + step) if poor is None else poor,
            margin=self.margin if margin is None else margin,
        )


@dataclass(frozen=True)
class Candidate:
    """One indexed face the index returned: its person, similarity and quality band."""

    face_id: str
    person_id: str
    similarity: float
    band: Band = "good"


@dataclass(frozen=True)
class Decision:
    """What a face is: ``match`` (``person_id``), ``new`` (create a person) or ``unknown``."""

    kind: Literal["match", "new", "unknown"]
    person_id: str | None
    similarity: float  # the best person's score (0.0 when the index knows nobody)
    second: float | None  # the second-best person's score
    threshold: float  # what the best person needed
    band: Band  # the pair's band the threshold came from
    reason: str
    refused: frozenset[str] = frozenset()  # people left out because a negative link refused them

    @property
    def margin(self) -> float | None:
        return None if self.second is None else self.similarity - self.second


def rank_people(candidates: Iterable[Candidate], probe: Band) -> list[tuple[Candidate, Band]]:
    """Each person's closest face with the pair's band, best first."""
    best: dict[str, Candidate] = {}
    for candidate in candidates:
        if candidate.person_id not in best or candidate.similarity > best[candidate.person_id].similarity:
            best[candidate.person_id] = candidate
    ranked = sorted(best.values(), key=lambda c: c.similarity, reverse=True)
    return [(c, worse(probe, c.band)) for c in ranked]


def decide(
    candidates: Iterable[Candidate],
    probe: FaceQuality,
    calibration: Calibration,
    *,
    excluded: Collection[str] = frozenset(),
    negatives: Mapping[str, float] = MappingProxyType({}),
) -> Decision:
    """Match, new person or unknown for a face of quality ``probe`` (see the module docstring).

    ``excluded``: people the face may not be (another face of its frame is them), left out.
    ``negatives``: per person, the similarity of the face to the closest face people marked "not
    this person" (negative links). A person whose negative is at least as close to the face as
    the person is (or a near-duplicate of it) is refused: left out once they would be named
    (until then they still count as the second person, so a look-alike of a refused person stays
    unnamed), and listed in ``Decision.refused``. A face that leaves out one of its candidates'
    people is somebody's look-alike: it is never made a new person (``unknown``)."""
    candidates = list(candidates)
    left_out = set(excluded)
    refused: set[str] = set()
    decision = _decide([c for c in candidates if c.person_id not in left_out], probe, calibration)
    while decision.kind == "match" and decision.person_id is not None and decision.person_id in negatives:
        if negatives[decision.person_id] < min(calibration.near_duplicate, decision.similarity):
            break
        refused.add(decision.person_id)
        left_out.add(decision.person_id)
        decision = _decide([c for c in candidates if c.person_id not in left_out], probe, calibration)
    if decision.kind == "new" and left_out & {c.person_id for c in candidates}:
        decision = dataclasses.replace(decision, kind="unknown", reason="its closest person is not it (frame, or feedback)")
    return dataclasses.replace(decision, refused=frozenset(refused))


def _decide(candidates: Sequence[Candidate], probe: FaceQuality, calibration: Calibration) -> Decision:
    """``decide`` among ``candidates`` as they are."""
    people = rank_people(candidates, probe.band)
    if not people:
        if probe.band == "good":
            return Decision("new", None, 0.0, None, calibration.good, probe.band, "nobody indexed yet")
        return Decision("unknown", None, 0.0, None, calibration.good, probe.band, f"{probe.band} quality: too poor to start a person")
    (best, band), second = people[0], (people[1][0].similarity if len(people) > 1 else None)
    threshold = calibration.threshold(band)
    margin = None if second is None else best.similarity - second
    if best.similarity >= threshold:
        if margin is None or margin >= calibration.margin:
            return Decision("match", best.person_id, best.similarity, second, threshold, band, "match")
        return Decision("unknown", None, best.similarity, second, threshold, band, f"ambiguous: margin {margin:.3f} < {calibration.margin}")
    if best.similarity >= calibration.good:
        # similar enough to someone to be them, not enough for this quality: neither name nor new person
        return Decision("unknown", None, best.similarity, second, threshold, band, f"{band} pair needs {threshold}")
    if probe.band == "good":
        return Decision("new", None, best.similarity, second, threshold, band, "matches nobody")
    return Decision("unknown", None, best.similarity, second, threshold, band, f"{probe.band} quality: too poor to start a person")
