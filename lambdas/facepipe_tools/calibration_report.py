"""The report ``facepipe calibrate`` writes (Markdown, its plot and its numbers as JSON):

1. impostor (different people) p50 / p99 / p99.9 / p99.99 / max and genuine (same person)
   p1 / p5 / p10 / p50 similarity per size band of the pair (the smaller face: [0,24),
   [24,40), [40,64), [64,inf) px), degraded or not, over pairs from different photos;
2. the same per quality band of the pair (the worse of the two faces' ``quality.band``);
3. the open-set simulation of ``matching.decide`` (``simulation.OpenSet``) over 21 (gallery
   variant, probe variant) conditions and four enrolment splits;
4. the edges (``simulation.edges``): per band the lowest threshold with no wrong name
   (steps of 0.005), and the lowest margin with none at all (steps of 0.01).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.matching import Calibration
from facepipe_tools.pairs import BANDS_BEST_FIRST, Pairs, plot_pairs
from facepipe_tools.report import percentile, table
from facepipe_tools.simulation import OUTCOMES, Edge, SimResult

SIZE_BANDS: tuple[tuple[float, float], ...] = ((0, 24), (24, 40), (40, 64), (64, math.inf))


def tails(pairs: Pairs) -> dict[str, Any]:
    impostor, genuine = np.sort(pairs.similarity[~pairs.same]), np.sort(pairs.similarity[pairs.same])
    return {
        "impostor_n": len(impostor),
        "impostor_p50": percentile(impostor, 50),
        "impostor_p99": percentile(impostor, 99),
        "impostor_p99.9": percentile(impostor, 99.9),
        "impostor_p99.99": percentile(impostor, 99.99),
        "impostor_max": float(impostor[-1]) if len(impostor) else None,
        "genuine_n": len(genuine),
        "genuine_p1": percentile(genuine, 1),
        "genuine_p5": percentile(genuine, 5),
        "genuine_p10": percentile(genuine, 10),
        "genuine_p50": percentile(genuine, 50),
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
    return [{"band": b, "threshold": calibration.threshold(b), **tails(pairs.select(pairs.band == b))} for b in BANDS_BEST_FIRST]


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
    edges: dict[str, Edge]
    pairs: Pairs | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "model": self.model,
            "sets": self.sets,
            "calibration": dataclasses.asdict(self.calibration),
            "faces": self.faces,
            "identities": self.identities,
            "variants": self.variants,
            "size_bands": self.size,
            "quality_bands": self.band,
            "simulation": self.simulation.row(),
            "simulation_by_condition": {k: dict(v) for k, v in self.simulation.by_condition.items()},
            "wrong": self.simulation.wrong,
            "edges": self.edges,
            "warnings": self.warnings,
        }

    def tables(self) -> list[tuple[str, list[str], list[list[Any]]]]:
        def num(value: Any) -> str:
            return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

        keys = [
            "impostor_n",
            "impostor_p50",
            "impostor_p99",
            "impostor_p99.9",
            "impostor_p99.99",
            "impostor_max",
            "genuine_n",
            "genuine_p1",
            "genuine_p5",
            "genuine_p10",
            "genuine_p50",
        ]
        heads = ["impostors", "p50", "p99", "p99.9", "p99.99", "max", "genuine", "p1", "p5", "p10", "p50"]
        sim = self.simulation
        condition_rows = [[c, *(sim.by_condition[c][k] for k in OUTCOMES)] for c in sim.by_condition]
        edge_rows = []
        for what, edge in self.edges.items():
            below = edge["below_edge"]
            at = edge["at_edge"] or {}
            edge_rows.append(
                [
                    what,
                    num(edge["current"]),
                    num(edge["edge"]),
                    at.get("correct", "-"),
                    at.get("split", "-"),
                    at.get("unknown", "-"),
                    "-"
                    if below is None
                    else f"{below['value']}: {below['wrong']} wrong, e.g. {below['example']['person']} named "
                    f"{below['example']['named']} at {below['example']['similarity']} ({below['example']['condition']}, {below['example']['band']})",
                ]
            )
        return [
            (
                "Variants found again by the detector",
                ["variant", "found", "tried"],
                [[name, found, tried] for name, (found, tried) in self.variants.items()],
            ),
            (
                "Similarity by size band of the pair (smaller face, px)",
                ["size", "degraded", *heads],
                [[r["size"], "yes" if r["degraded"] else "no", *(num(r[k]) for k in keys)] for r in self.size],
            ),
            (
                "Similarity by quality band of the pair (worse face)",
                ["band", "threshold", *heads],
                [[r["band"], num(r["threshold"]), *(num(r[k]) for k in keys)] for r in self.band],
            ),
            (
                "Open-set simulation at the current calibration (all conditions and splits)",
                [*OUTCOMES, "known probes", "stranger probes"],
                [[*(sim.counts[k] for k in OUTCOMES), sim.counts["known"], sim.counts["stranger"]]],
            ),
            ("Simulation by condition (gallery variant -> probe variant)", ["condition", *OUTCOMES], condition_rows),
            (
                "Wrong names at the current calibration",
                ["file", "condition", "person", "named", "similarity", "margin", "band"],
                [[w["file"], w["condition"], w["person"], w["named"], w["similarity"], w["margin"], w["band"]] for w in sim.wrong[:30]],
            ),
            (
                "Edges: lowest value (others held) with no wrong name (in that band; for the margin, at all)",
                ["band", "current", "edge", "correct", "split", "unknown", "one step lower"],
                edge_rows,
            ),
        ]

    def facts(self) -> list[str]:
        c = self.calibration
        return [
            f"model: {self.model}; calibration: good {c.good}, fair {c.fair}, poor {c.poor}, margin {c.margin}",
            f"sets: {'; '.join(self.sets)}",
            f"{self.faces} labelled faces of {self.identities} identities (each stranger's face counted as one)",
        ]

    def render(self) -> str:
        lines = [*self.facts(), *(f"warning: {w}" for w in self.warnings)]
        for title, headers, rows in self.tables():
            if rows:
                lines += ["", f"{title}:", table(rows, headers)]
        return "\n".join(lines)

    def markdown(self, plot: str | None) -> str:
        lines = [f"# `{self.command}`", "", *(f"- {f}" for f in self.facts()), ""]
        if self.warnings:
            lines += ["Warnings:", "", *(f"- {w}" for w in self.warnings), ""]
        for title, headers, rows in self.tables():
            if not rows:
                continue
            cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
            lines += [
                f"## {title}",
                "",
                "| " + " | ".join(headers) + " |",
                "|" + "---|" * len(headers),
                *("| " + " | ".join(row) + " |" for row in cells),
                "",
            ]
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
