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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

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

    @classmethod
    def from_metadata(cls, face_id: str, similarity: float, metadata: Mapping[str, Any]) -> Candidate | None:
        person_id = metadata.get("person_id")
        if not person_id:
            return None
        band = metadata.get("band")
        return cls(face_id, str(person_id), float(similarity), band if band in ("good", "fair", "poor") else "good")


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


def decide(candidates: Iterable[Candidate], probe: FaceQuality, calibration: Calibration) -> Decision:
    """Match, new person or unknown for a face of quality ``probe`` (see the module docstring)."""
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


def names_nobody(candidates: Iterable[Candidate], calibration: Calibration) -> bool:
    """No candidate reaches the lowest threshold a pair can need: whoever the candidates belong
    to now (merges, erasures), ``decide`` answers ``new`` or ``unknown``."""
    lowest = min(calibration.good, calibration.fair, calibration.poor)
    return all(c.similarity < lowest for c in candidates)


def adds_to_person(decision: Decision, probe: FaceQuality, calibration: Calibration, person_faces: int) -> bool:
    """Whether a matched sighting joins its person's indexed faces: a good face, a good pair,
    not a near-duplicate of one of the person's faces, and room left under the cap."""
    return (
        decision.kind == "match"
        and probe.band == "good"
        and decision.band == "good"
        and decision.similarity < calibration.near_duplicate
        and person_faces < MAX_FACES_PER_PERSON
    )
