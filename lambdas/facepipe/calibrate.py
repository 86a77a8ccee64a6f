"""``facepipe calibrate``: how similar faces of one person and of different people are, by
size and quality band, and what the model's thresholds (``matching.calibration_for``) do.

In process, no stack. For every labelled face of the given sets (``labelled.FaceLabeller``;
the same name in two sets is one person; a stranger's face is nobody enrolled, and a pair of
two strangers' faces is left out of the statistics, ``labelled.pairs_of``), the camera's degradations are built from the photo (``labelled.context_frame``): the face at 16,
20 and 24 px in 64x64 frames, at 32, 48, 64 and 96 px in frames 3x the face, and the 32 and
64 px frames blurred (Gaussian, radius px/32) and JPEG-damaged (quality 15), each only when
the photo's face is larger. Each variant goes through the pipeline's detection (the detected
face overlapping the known box), ``quality.assess``, crop and embedding.

The report:

1. impostor (different people) p50 / p99 / p99.9 / p99.99 / max and genuine (same person)
   p1 / p5 / p10 / p50 similarity per size band of the pair (the smaller face: [0,24),
   [24,40), [40,64), [64,inf) px), degraded or not, over pairs from different photos;
2. the same per quality band of the pair (the worse of the two faces' ``quality.band``);
3. an open-set simulation with ``matching.decide`` itself: gallery = the enrollment faces
   of the enrolled identities, probes = every other face; four identity splits (all
   enrolled, every other one of the sorted names either way, every third), so that people
   nobody enrolled are probed too; 21 (gallery variant, probe variant) conditions. A probe
   is ``correct`` (its person), ``wrong`` (someone else: must stay 0), ``new`` (a new person
   for someone nobody enrolled: right), ``split`` (a new person for an enrolled person) or
   ``unknown``;
4. the edges: per band, the lowest threshold with the others held at which no wrong name is
   decided in that band (steps of 0.005), and the lowest margin with no wrong name at all
   (steps of 0.01).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from facepipe.labelled import (
    FaceLabeller,
    LabelledFace,
    LabelledSet,
    Pairs,
    context_frame,
    pairs_of,
    plot_pairs,
    progress_bar,
)
from facepipe.matching import TOP_K, Calibration, Candidate, calibration_for, decide
from facepipe.quality import FaceQuality


@dataclass(frozen=True)
class Variant:
    name: str
    face_px: int
    frame_px: int
    degrade: str = ""  # "", "blur" or "jpeg"


VARIANTS: tuple[Variant, ...] = (
    Variant("16px", 16, 64),
    Variant("20px", 20, 64),
    Variant("24px", 24, 64),
    Variant("32px", 32, 96),
    Variant("48px", 48, 144),
    Variant("64px", 64, 192),
    Variant("96px", 96, 288),
    Variant("32px blur", 32, 96, "blur"),
    Variant("32px jpeg15", 32, 96, "jpeg"),
    Variant("64px blur", 64, 192, "blur"),
    Variant("64px jpeg15", 64, 192, "jpeg"),
)
#: (gallery variant, probe variant) pairs of the simulation
CONDITIONS: tuple[tuple[str, str], ...] = (
    ("full", "full"), ("full", "20px"), ("20px", "20px"), ("full", "24px"), ("24px", "24px"), ("full", "32px"), ("32px", "32px"),
    ("full", "48px"), ("48px", "48px"), ("full", "64px"), ("64px", "64px"), ("full", "96px"), ("full", "64px blur"),
    ("full", "32px blur"), ("full", "32px jpeg15"), ("full", "64px jpeg15"), ("20px", "full"), ("32px", "full"), ("16px", "16px"),
    ("full", "16px"), ("64px blur", "64px blur"),
)
SIZE_BANDS: tuple[tuple[float, float], ...] = ((0, 24), (24, 40), (40, 64), (64, math.inf))
OUTCOMES = ("correct", "wrong", "new", "split", "unknown")
THRESHOLD_STEP = 0.005
MARGIN_STEP = 0.01


def degrade(frame: Image.Image, variant: Variant) -> Image.Image:
    if variant.degrade == "blur":
        return frame.filter(ImageFilter.GaussianBlur(variant.face_px / 32))
    if variant.degrade == "jpeg":
        import io

        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=15)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return frame


def measure_variants(faces: Sequence[LabelledFace], images: dict[tuple[str, str], bytes], labeller: FaceLabeller,
                     variants: Sequence[Variant] = VARIANTS, progress: bool = False) -> tuple[list[LabelledFace], Counter]:
    """Every variant of every face that the detector finds again (``file`` stays the photo's,
    so pairs of one photo's variants are never compared). Also: variants tried, per name."""
    tasks = [(f, v) for f in faces for v in variants if v.face_px < f.face.size]
    tried = Counter(v.name for _, v in tasks)
    found: list[LabelledFace] = []
    bar = progress_bar(len(tasks), "degraded variants", progress, unit="face")
    photo_key: tuple[str, str] | None = None
    photo: Image.Image | None = None
    for face, variant in sorted(tasks, key=lambda t: (t[0].set_name, t[0].origin)):
        bar.update()
        key = (face.set_name, face.origin)
        if key != photo_key:
            photo_key, photo = key, labeller.open(images[key], face.origin)
        assert photo is not None
        frame, square = context_frame(photo, face.face.box, variant.face_px / variant.frame_px, variant.frame_px)
        measured = labeller.find(degrade(frame, variant), square.map(face.face.box))
        if measured is not None:
            detected, quality, vector = measured
            found.append(replace(face, face=detected, quality=quality, vector=vector, variant=variant.name))
    bar.close()
    return found, tried


# --- tails ----------------------------------------------------------------------------------
def _q(values: np.ndarray, p: float) -> float | None:
    return float(values[min(len(values) - 1, int(p * len(values)))]) if len(values) else None


def tails(pairs: Pairs) -> dict[str, Any]:
    impostor, genuine = np.sort(pairs.similarity[~pairs.same]), np.sort(pairs.similarity[pairs.same])
    return {
        "impostor_n": int(len(impostor)),
        "impostor_p50": _q(impostor, 0.50),
        "impostor_p99": _q(impostor, 0.99),
        "impostor_p99.9": _q(impostor, 0.999),
        "impostor_p99.99": _q(impostor, 0.9999),
        "impostor_max": float(impostor[-1]) if len(impostor) else None,
        "genuine_n": int(len(genuine)),
        "genuine_p1": _q(genuine, 0.01),
        "genuine_p5": _q(genuine, 0.05),
        "genuine_p10": _q(genuine, 0.10),
        "genuine_p50": _q(genuine, 0.50),
    }


def size_tails(pairs: Pairs) -> list[dict[str, Any]]:
    rows = []
    for low, high in SIZE_BANDS:
        for degraded in (False, True):
            mask = (pairs.size >= low) & (pairs.size < high) & (pairs.degraded == degraded)
            label = f"[{low:.0f}, {'inf' if math.isinf(high) else f'{high:.0f}'})"
            rows.append({"size": label, "degraded": degraded, **tails(pairs.select(mask))})
    return rows


def band_tails(pairs: Pairs, calibration: Calibration) -> list[dict[str, Any]]:
    return [{"band": b, "threshold": calibration.threshold(b), **tails(pairs.select(pairs.band == b))} for b in ("good", "fair", "poor")]


# --- open-set simulation --------------------------------------------------------------------
@dataclass(frozen=True)
class SimProbe:
    file: str
    variant: str
    identity: str
    name: str  # the labelled name, or "stranger"
    known: bool
    quality: FaceQuality
    candidates: tuple[Candidate, ...]


@dataclass
class SimResult:
    counts: Counter = field(default_factory=Counter)
    by_condition: dict[str, Counter] = field(default_factory=dict)
    wrong: list[dict[str, Any]] = field(default_factory=list)

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
            counts: Counter = Counter()
            for case in cases:
                decision = decide(case.candidates, case.quality, calibration)
                if decision.kind == "match":
                    outcome = "correct" if decision.person_id == case.identity else "wrong"
                    if outcome == "wrong":
                        result.wrong.append({
                            "file": case.file, "condition": condition, "person": case.name, "named": decision.person_id,
                            "similarity": round(decision.similarity, 4),
                            "margin": None if decision.margin is None else round(decision.margin, 4), "band": decision.band,
                        })
                elif decision.kind == "new":
                    outcome = "split" if case.known else "new"
                else:
                    outcome = "unknown"
                counts[outcome] += 1
                counts["known" if case.known else "stranger"] += 1
            result.counts.update(counts)
            result.by_condition.setdefault(condition, Counter()).update(counts)
        return result


def _sweep(run: Callable[[float], SimResult], counts: Callable[[dict[str, Any]], bool], current: float, step: float, floor: float,
           ceiling: float) -> dict[str, Any]:
    """The lowest value (by ``step`` from ``current``) at which no wrong name that ``counts`` is
    left; upwards from ``current`` when there is one there (edge None when even ``ceiling`` is not enough)."""

    def wrong(result: SimResult) -> list[dict[str, Any]]:
        return [w for w in result.wrong if counts(w)]

    value, result = current, run(current)
    below = None
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


def edges(simulation: OpenSet, calibration: Calibration, progress: bool = False) -> dict[str, dict[str, Any]]:
    """Per band: the lowest threshold (others held) with no wrong name decided in that band (a
    band's threshold cannot undo another band's wrong names); for the margin: no wrong name at all."""
    found = {}
    bar = progress_bar(4, "edges", progress, unit="sweep")
    for band in ("good", "fair", "poor"):
        found[band] = _sweep(lambda t, b=band: simulation.run(dataclasses.replace(calibration, **{b: t})),
                             lambda w, b=band: w["band"] == b, calibration.threshold(band), THRESHOLD_STEP, 0.0, 1.0)
        bar.update()
    found["margin"] = _sweep(lambda m: simulation.run(dataclasses.replace(calibration, margin=m)), lambda w: True,
                             calibration.margin, MARGIN_STEP, 0.0, 1.0)
    bar.update()
    bar.close()
    return found


# --- the report -----------------------------------------------------------------------------
@dataclass
class CalibrationReport:
    command: str
    model: str
    sets: list[str]
    calibration: Calibration
    faces: int
    identities: int
    variants: dict[str, tuple[int, int]]  # name -> (found, tried)
    size: list[dict[str, Any]]
    band: list[dict[str, Any]]
    simulation: SimResult
    edges: dict[str, dict[str, Any]]
    pairs: Pairs | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command, "model": self.model, "sets": self.sets, "calibration": dataclasses.asdict(self.calibration),
            "faces": self.faces, "identities": self.identities, "variants": self.variants, "size_bands": self.size,
            "quality_bands": self.band, "simulation": self.simulation.row(),
            "simulation_by_condition": {k: dict(v) for k, v in self.simulation.by_condition.items()},
            "wrong": self.simulation.wrong, "edges": self.edges, "warnings": self.warnings,
        }

    def tables(self) -> list[tuple[str, list[str], list[list[Any]]]]:
        def num(value: Any) -> str:
            return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

        keys = ["impostor_n", "impostor_p50", "impostor_p99", "impostor_p99.9", "impostor_p99.99", "impostor_max", "genuine_n", "genuine_p1", "genuine_p5",
                "genuine_p10", "genuine_p50"]
        heads = ["impostors", "p50", "p99", "p99.9", "p99.99", "max", "genuine", "p1", "p5", "p10", "p50"]
        sim = self.simulation
        condition_rows = [[c, *(sim.by_condition[c][k] for k in OUTCOMES)] for c in sim.by_condition]
        edge_rows = []
        for what, edge in self.edges.items():
            below = edge["below_edge"]
            at = edge["at_edge"] or {}
            edge_rows.append([
                what, num(edge["current"]), num(edge["edge"]), at.get("correct", "-"), at.get("split", "-"), at.get("unknown", "-"),
                "-" if below is None else f"{below['value']}: {below['wrong']} wrong, e.g. {below['example']['person']} named "
                f"{below['example']['named']} at {below['example']['similarity']} ({below['example']['condition']}, {below['example']['band']})",
            ])
        return [
            ("Variants found again by the detector", ["variant", "found", "tried"],
             [[name, found, tried] for name, (found, tried) in self.variants.items()]),
            ("Similarity by size band of the pair (smaller face, px)", ["size", "degraded", *heads],
             [[r["size"], "yes" if r["degraded"] else "no", *(num(r[k]) for k in keys)] for r in self.size]),
            ("Similarity by quality band of the pair (worse face)", ["band", "threshold", *heads],
             [[r["band"], num(r["threshold"]), *(num(r[k]) for k in keys)] for r in self.band]),
            ("Open-set simulation at the current calibration (all conditions and splits)", [*OUTCOMES, "known probes", "stranger probes"],
             [[*(sim.counts[k] for k in OUTCOMES), sim.counts["known"], sim.counts["stranger"]]]),
            ("Simulation by condition (gallery variant -> probe variant)", ["condition", *OUTCOMES], condition_rows),
            ("Wrong names at the current calibration", ["file", "condition", "person", "named", "similarity", "margin", "band"],
             [[w["file"], w["condition"], w["person"], w["named"], w["similarity"], w["margin"], w["band"]] for w in sim.wrong[:30]]),
            ("Edges: lowest value (others held) with no wrong name (in that band; for the margin, at all)",
             ["band", "current", "edge", "correct", "split", "unknown", "one step lower"], edge_rows),
        ]

    def facts(self) -> list[str]:
        c = self.calibration
        return [
            f"model: {self.model}; calibration: good {c.good}, fair {c.fair}, poor {c.poor}, margin {c.margin}",
            f"sets: {'; '.join(self.sets)}",
            f"{self.faces} labelled faces of {self.identities} identities (each stranger's face counted as one)",
        ]

    def render(self) -> str:
        from facepipe.cli import _table

        lines = [*self.facts(), *(f"warning: {w}" for w in self.warnings)]
        for title, headers, rows in self.tables():
            if rows:
                lines += ["", f"{title}:", _table(rows, headers)]
        return "\n".join(lines)

    def markdown(self, plot: str | None) -> str:
        lines = [f"# `{self.command}`", "", *(f"- {f}" for f in self.facts()), ""]
        if self.warnings:
            lines += ["Warnings:", "", *(f"- {w}" for w in self.warnings), ""]
        for title, headers, rows in self.tables():
            if not rows:
                continue
            cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
            lines += [f"## {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
                      *("| " + " | ".join(row) + " |" for row in cells), ""]
        if plot:
            lines += [f"![similarity by quality band]({plot})", ""]
        return "\n".join(lines)

    def write(self, out: Path) -> list[Path]:
        """The Markdown report at ``out``, its plot (.png) and its numbers (.json) beside it."""
        out.parent.mkdir(parents=True, exist_ok=True)
        written = [out]
        plot = None
        if self.pairs is not None and len(self.pairs.similarity):
            plot = plot_pairs(self.pairs, self.calibration, f"{self.model} on {'; '.join(self.sets)}"[:160], out.with_suffix(".png"))
            written.append(plot)
        out.write_text(self.markdown(plot.name if plot else None))
        out.with_suffix(".json").write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return [*written, out.with_suffix(".json")]


def run_calibration(sets: Sequence[LabelledSet], labeller: FaceLabeller, model: str, command: str = "facepipe calibrate",
                    progress: bool = False, variants: Sequence[Variant] = VARIANTS) -> CalibrationReport:
    calibration = calibration_for(model)
    faces: list[LabelledFace] = []
    images: dict[tuple[str, str], bytes] = {}
    warnings: list[str] = []
    for labelled in sets:
        labelling = labeller.label(labelled, progress=progress)
        faces += labelling.faces
        warnings += labelling.warnings
        images.update(((labelled.name, name), data) for name, data in labelled.images().items())
    found, tried = measure_variants(faces, images, labeller, variants, progress)
    everything = faces + found
    pairs = pairs_of(everything, file_of=lambda f: f"{f.set_name}\0{f.origin}")
    found_by = Counter(f.variant for f in found)
    simulation = OpenSet(everything)
    return CalibrationReport(
        command=command,
        model=model,
        sets=[s.name for s in sets],
        calibration=calibration,
        faces=len(faces),
        identities=len({f.identity for f in faces}),
        variants={"full": (len(faces), len(faces)), **{v.name: (found_by[v.name], tried[v.name]) for v in variants}},
        size=size_tails(pairs),
        band=band_tails(pairs, calibration),
        simulation=simulation.run(calibration),
        edges=edges(simulation, calibration, progress),
        pairs=pairs,
        warnings=warnings,
    )
