"""``facepipe calibrate --from-review``: thresholds from what people taught on their own cameras.

Each teaching action is a labelled pair with the matcher's own inputs. A confirmed or assigned
face and each other indexed face of its person is a *genuine* pair; a face marked "not this
person" and each indexed face of that person is an *impostor* pair. Per quality band (the worse
of the pair's two), the suggested threshold is the lowest that names no impostor pair (the
highest impostor similarity, rounded up to the next 0.005), and never below the model's own
value when the band has no impostor pair to say otherwise. The report says how many pairs stand
behind each value, and how many genuine pairs it would name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from facepipe.detection.quality import BANDS, Band, worse
from facepipe.matching import Calibration
from facepipe.operations import PeopleOperations
from facepipe.vectors import decode_vector
from facepipe_tools.report import table

#: the setting (and Terraform variable) that holds each band's threshold
SETTINGS: dict[Band, str] = {
    "good": "FACE_SIMILARITY_THRESHOLD",
    "fair": "FACE_SIMILARITY_THRESHOLD_FAIR",
    "poor": "FACE_SIMILARITY_THRESHOLD_POOR",
}
STEP = 0.005


@dataclass(frozen=True)
class Pair:
    similarity: float
    band: Band
    same: bool


@dataclass(frozen=True)
class BandEdge:
    band: Band
    genuine: int
    impostor: int
    highest_impostor: float | None
    lowest_genuine: float | None
    now: float
    suggested: float
    named: int  # genuine pairs the suggested threshold names

    @property
    def reason(self) -> str:
        if self.impostor == 0:
            return "no impostor pair: the model's value stands"
        return f"above the highest impostor pair ({self.highest_impostor:.3f})"


def _band(value: object) -> Band:
    return next((band for band in BANDS if band == value), "good")


def labelled_pairs(operations: PeopleOperations) -> list[Pair]:
    """Every pair the people's feedback labels (see the module docstring)."""
    pairs: list[Pair] = []
    store = operations.people
    for person in store.list_people():
        if not person.present:
            continue
        faces = [f for f in store.faces_of(person.person_id) if f.get("vector")]
        indexed = [
            (str(f["face_id"]), decode_vector(str(f["vector"])), _band((f.get("quality") or {}).get("band")))
            for f in faces
            if f.get("indexed")
        ]
        for face in faces:
            if not face.get("taught"):
                continue
            vector, band = decode_vector(str(face["vector"])), _band((face.get("quality") or {}).get("band"))
            pairs += [Pair(float(vector @ other), worse(band, their), True) for fid, other, their in indexed if fid != face["face_id"]]
        for negative in store.negatives(person.person_id):
            vector, band = decode_vector(str(negative["vector"])), _band(negative.get("band"))
            pairs += [Pair(float(vector @ other), worse(band, their), False) for _, other, their in indexed]
    return pairs


def edges(pairs: Iterable[Pair], calibration: Calibration) -> list[BandEdge]:
    """Per band: the pairs, and the lowest threshold that names no impostor pair."""
    found: list[BandEdge] = []
    all_pairs = list(pairs)
    for band in BANDS:
        genuine = np.array([p.similarity for p in all_pairs if p.band == band and p.same])
        impostor = np.array([p.similarity for p in all_pairs if p.band == band and not p.same])
        now = calibration.threshold(band)
        suggested = min(1.0, math.ceil((float(impostor.max()) + 1e-9) / STEP) * STEP) if impostor.size else now
        found.append(
            BandEdge(
                band,
                int(genuine.size),
                int(impostor.size),
                float(impostor.max()) if impostor.size else None,
                float(genuine.min()) if genuine.size else None,
                now,
                round(suggested, 3),
                int((genuine >= suggested).sum()),
            )
        )
    return found


def render(found: Sequence[BandEdge], model: str, people_taught: int) -> str:
    genuine, impostor = sum(e.genuine for e in found), sum(e.impostor for e in found)
    lines = [
        f"thresholds from review feedback ({model}): {genuine} genuine pairs (confirmed and assigned faces), "
        f"{impostor} impostor pairs (not this person), {people_taught} people taught",
        "",
        table(
            [
                (
                    e.band,
                    e.genuine,
                    e.impostor,
                    "" if e.highest_impostor is None else f"{e.highest_impostor:.3f}",
                    "" if e.lowest_genuine is None else f"{e.lowest_genuine:.3f}",
                    f"{e.now:.3f}",
                    f"{e.suggested:.3f}",
                    f"{e.named}/{e.genuine}",
                )
                for e in found
            ],
            (
                "band",
                "genuine pairs",
                "impostor pairs",
                "highest impostor",
                "lowest genuine",
                "threshold now",
                "suggested",
                "genuine named",
            ),
        ),
        "",
        "settings to apply (the recognition function's environment; Terraform: the same names in lower case):",
    ]
    for e in found:
        lines.append(f"{SETTINGS[e.band]}={e.suggested:.3f}    # {e.band}: {e.genuine} genuine / {e.impostor} impostor pairs; {e.reason}")
    if not impostor:
        lines.append("(no face was marked 'not this person' yet: these are the current values; mark wrong matches to learn from them)")
    return "\n".join(lines)


def calibrate_from_review(operations: PeopleOperations) -> str:
    pairs = labelled_pairs(operations)
    taught = {
        p
        for p in operations.people.list_people()
        if p.present and (p.negatives or any(f.get("taught") for f in operations.people.faces_of(p.person_id)))
    }
    return render(edges(pairs, operations.recognizer.calibration), operations.recognizer.embedder.model, len(taught))
