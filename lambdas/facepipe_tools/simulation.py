"""The open-set simulation behind ``facepipe calibrate``: ``matching.decide`` itself over every probe face.

Gallery = the enrollment faces of the enrolled identities, probes = every other face; four
identity splits (all enrolled, every other one of the sorted names either way, every third),
so that people nobody enrolled are probed too; (gallery variant, probe variant) conditions.
A probe is ``correct`` (its person), ``wrong`` (someone else: must stay 0), ``new`` (a new
person for someone nobody enrolled: right), ``split`` (a new person for an enrolled person)
or ``unknown``. ``edges`` finds, per band, the lowest threshold (others held) at which no
wrong name is decided in that band, and the lowest margin with no wrong name at all.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from facepipe.detection.quality import Band, FaceQuality
from facepipe.matching import TOP_K, Calibration, Candidate, decide
from facepipe_tools.labelling import LabelledFace
from facepipe_tools.pairs import BANDS_BEST_FIRST
from facepipe_tools.report import progress_bar

#: (gallery variant, probe variant) pairs of the simulation
CONDITIONS: tuple[tuple[str, str], ...] = (
    ("full", "full"),
    ("full", "20px"),
    ("20px", "20px"),
    ("full", "24px"),
    ("24px", "24px"),
    ("full", "32px"),
    ("32px", "32px"),
    ("full", "48px"),
    ("48px", "48px"),
    ("full", "64px"),
    ("64px", "64px"),
    ("full", "96px"),
    ("full", "64px blur"),
    ("full", "32px blur"),
    ("full", "32px jpeg15"),
    ("full", "64px jpeg15"),
    ("20px", "full"),
    ("32px", "full"),
    ("16px", "16px"),
    ("full", "16px"),
    ("64px blur", "64px blur"),
)
OUTCOMES = ("correct", "wrong", "new", "split", "unknown")
THRESHOLD_STEP = 0.005
MARGIN_STEP = 0.01


@dataclass(frozen=True)
class SimProbe:
    file: str
    variant: str
    identity: str
    name: str  # the labelled name, or "stranger"
    known: bool
    quality: FaceQuality
    candidates: tuple[Candidate, ...]


class WrongName(TypedDict):
    """A probe given someone else's name: the worst answer."""

    file: str
    condition: str
    person: str  # who it is
    named: str | None  # whom the decision named
    similarity: float
    margin: float | None
    band: Band


class Below(TypedDict):
    """One step below an edge: how many wrong names, and one of them."""

    value: float
    wrong: int
    example: WrongName


class Edge(TypedDict):
    current: float
    edge: float | None  # None: even the ceiling leaves a wrong name
    at_edge: dict[str, int] | None  # ``SimResult.row()`` at the edge
    below_edge: Below | None  # None: no wrong name down to the floor


@dataclass
class SimResult:
    counts: Counter[str] = field(default_factory=Counter)
    by_condition: dict[str, Counter[str]] = field(default_factory=dict)
    wrong: list[WrongName] = field(default_factory=list)

    def row(self) -> dict[str, int]:
        return {k: self.counts[k] for k in (*OUTCOMES, "known", "stranger")}


class OpenSet:
    """The simulation's probes and their index candidates, computed once; ``run`` decides them
    with any calibration."""

    def __init__(self, faces: Sequence[LabelledFace], conditions: Sequence[tuple[str, str]] = CONDITIONS, top_k: int = TOP_K) -> None:
        identities = sorted({f.name for f in faces if f.name is not None and f.role == "enroll"})
        self.splits = [set(identities), set(identities[::2]), set(identities[1::2]), set(identities[::3])]
        self.cases: list[tuple[str, list[SimProbe]]] = []
        by_variant: dict[str, list[LabelledFace]] = {}
        for f in faces:
            by_variant.setdefault(f.variant, []).append(f)
        for enrolled in self.splits:
            gallery_files = {(f.set_name, f.origin) for f in faces if f.role == "enroll" and f.name in enrolled}
            for gallery_variant, probe_variant in conditions:
                gallery = [f for f in by_variant.get(gallery_variant, []) if (f.set_name, f.origin) in gallery_files]
                probes = [f for f in by_variant.get(probe_variant, []) if (f.set_name, f.origin) not in gallery_files]
                if not gallery or not probes:
                    continue
                vectors = np.stack([g.vector for g in gallery])
                sims = np.stack([p.vector for p in probes]) @ vectors.T
                k = min(top_k, len(gallery))
                cases = []
                for p, row in zip(probes, sims, strict=True):
                    nearest = np.argpartition(-row, k - 1)[:k]
                    candidates = tuple(Candidate(str(i), gallery[i].identity, float(row[i]), gallery[i].quality.band) for i in nearest)
                    cases.append(SimProbe(p.origin, p.variant, p.identity, p.name or "stranger", p.name in enrolled, p.quality, candidates))
                self.cases.append((f"{gallery_variant} -> {probe_variant}", cases))

    def run(self, calibration: Calibration) -> SimResult:
        result = SimResult()
        for condition, cases in self.cases:  # a condition comes once per split
            counts: Counter[str] = Counter()
            for case in cases:
                decision = decide(case.candidates, case.quality, calibration)
                if decision.kind == "match":
                    outcome = "correct" if decision.person_id == case.identity else "wrong"
                    if outcome == "wrong":
                        result.wrong.append(
                            {
                                "file": case.file,
                                "condition": condition,
                                "person": case.name,
                                "named": decision.person_id,
                                "similarity": round(decision.similarity, 4),
                                "margin": None if decision.margin is None else round(decision.margin, 4),
                                "band": decision.band,
                            }
                        )
                elif decision.kind == "new":
                    outcome = "split" if case.known else "new"
                else:
                    outcome = "unknown"
                counts[outcome] += 1
                counts["known" if case.known else "stranger"] += 1
            result.counts.update(counts)
            result.by_condition.setdefault(condition, Counter()).update(counts)
        return result


def _sweep(
    run: Callable[[float], SimResult], counts: Callable[[WrongName], bool], current: float, step: float, floor: float, ceiling: float
) -> Edge:
    """The lowest value (by ``step`` from ``current``) at which no wrong name that ``counts`` is
    left; upwards from ``current`` when there is one there (edge None when even ``ceiling`` is not enough)."""

    def wrong(result: SimResult) -> list[WrongName]:
        return [w for w in result.wrong if counts(w)]

    value, result = current, run(current)
    below: Below | None = None
    if not wrong(result):
        while value - step >= floor - 1e-9:
            trial = run(round(value - step, 4))
            if wrong(trial):
                below = {"value": round(value - step, 4), "wrong": len(wrong(trial)), "example": wrong(trial)[0]}
                break
            value, result = round(value - step, 4), trial
    else:
        while wrong(result) and value + step <= ceiling + 1e-9:
            value = round(value + step, 4)
            result = run(value)
        if wrong(result):
            return {"current": current, "edge": None, "at_edge": None, "below_edge": None}
    return {"current": current, "edge": value, "at_edge": result.row(), "below_edge": below}


def edges(simulation: OpenSet, calibration: Calibration, progress: bool = False) -> dict[str, Edge]:
    """Per band: the lowest threshold (others held) with no wrong name decided in that band (a
    band's threshold cannot undo another band's wrong names); for the margin: no wrong name at all."""
    found: dict[str, Edge] = {}
    bar = progress_bar(4, "edges", progress, unit="sweep")
    for band in BANDS_BEST_FIRST:

        def with_threshold(value: float, band: Band = band) -> SimResult:
            return simulation.run(dataclasses.replace(calibration, **{band: value}))

        def in_band(wrong: WrongName, band: Band = band) -> bool:
            return wrong["band"] == band

        found[band] = _sweep(with_threshold, in_band, calibration.threshold(band), THRESHOLD_STEP, 0.0, 1.0)
        bar.update()
    found["margin"] = _sweep(
        lambda m: simulation.run(dataclasses.replace(calibration, margin=m)), lambda w: True, calibration.margin, MARGIN_STEP, 0.0, 1.0
    )
    bar.update()
    bar.close()
    return found
