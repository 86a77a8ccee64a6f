"""The report ``facepipe eval`` writes: every probe and face judged, totals by category, the
confusion of names, the set's similarity by quality band and the latency (text, Markdown, JSON, plot)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from facepipe.embedding.models import calibration_for
from facepipe_tools.client import LatencySummary, summary
from facepipe_tools.judging import CATEGORIES, STRANGER, FaceVerdict
from facepipe_tools.pairs import BandSummary, Pairs, plot_pairs
from facepipe_tools.report import seconds, table

REPORT_NAMES = {"markdown": "eval.md", "json": "eval.json", "plot": "eval.png"}


@dataclass
class ProbeResult:
    filename: str
    expected: str
    result: str | None
    latency: float | None
    status: int
    as_labelled: bool
    why: str
    faces: list[FaceVerdict] = field(default_factory=list)


@dataclass
class EvalReport:
    workload: str  # the set's name
    enrolled: dict[str, int]
    model: str = ""
    command: str = "facepipe eval"
    downscale: int | None = None
    warnings: list[str] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    stats: LatencySummary = field(default_factory=lambda: summary([]))
    similarity: list[BandSummary] = field(default_factory=list)
    pairs: Pairs | None = None

    # --- numbers --------------------------------------------------------------------------
    @property
    def passed(self) -> int:
        return sum(1 for p in self.probes if p.as_labelled)

    @property
    def total(self) -> int:
        return len(self.probes)

    @property
    def verdicts(self) -> list[tuple[ProbeResult, FaceVerdict]]:
        return [(p, v) for p in self.probes for v in p.faces]

    @property
    def wrong_names(self) -> list[tuple[ProbeResult, FaceVerdict]]:
        return [(p, v) for p, v in self.verdicts if v.category == "wrong name"]

    def totals(self) -> dict[str, dict[str, int]]:
        """Faces per category, for enrolled people's faces ("known") and strangers' faces."""
        counts: dict[str, Counter[str]] = {kind: Counter() for kind in ("known", STRANGER)}
        for _, verdict in self.verdicts:
            counts["known" if verdict.known else STRANGER][verdict.category] += 1
        table = {kind: {c: counts[kind][c] for c in CATEGORIES} for kind in counts}
        table["all"] = {c: table["known"][c] + table[STRANGER][c] for c in CATEGORIES}
        return table

    def confusion(self) -> tuple[list[str], list[str], dict[str, dict[str, int]]]:
        """(rows, columns, counts): expected name or ``stranger`` -> result name, new, unknown, no face."""
        enrolled = set(self.enrolled)
        counts: dict[str, Counter[str]] = {}
        for _, verdict in self.verdicts:
            counts.setdefault(verdict.row, Counter())[verdict.column(enrolled)] += 1
        names = sorted(enrolled)
        rows = [n for n in names if n in counts] + ([STRANGER] if STRANGER in counts else [])
        columns = [n for n in names if any(n in c for c in counts.values())] + ["new", "unknown", "no face"]
        return rows, columns, {r: {c: counts[r][c] for c in columns} for r in rows}

    def as_dict(self) -> dict[str, Any]:
        rows, columns, confusion = self.confusion()
        calibration = calibration_for(self.model) if self.model else None
        return {
            "command": self.command,
            "set": self.workload,
            "model": self.model,
            "calibration": asdict(calibration) if calibration else None,
            "downscale": self.downscale,
            "enrolled": self.enrolled,
            "warnings": self.warnings,
            "probes_as_labelled": {"passed": self.passed, "total": self.total},
            "wrong_names": len(self.wrong_names),
            "faces": self.totals(),
            "confusion": {"rows": rows, "columns": columns, "counts": confusion},
            "similarity": self.similarity,
            "latency": self.stats,
            "probes": [
                {
                    "filename": p.filename,
                    "expected": p.expected,
                    "result": p.result,
                    "latency_s": p.latency,
                    "status": p.status,
                    "as_labelled": p.as_labelled,
                    "why": p.why,
                    "faces": [asdict(v) for v in p.faces],
                }
                for p in self.probes
            ],
        }

    # --- text -----------------------------------------------------------------------------
    def _tables(self) -> dict[str, tuple[list[str], list[list[Any]]]]:
        probe_rows = [
            [
                p.filename,
                p.expected,
                repr(p.result),
                seconds(p.latency),
                "; ".join(v.label for v in p.faces),
                "ok" if p.as_labelled else "FAIL",
            ]
            for p in self.probes
        ]
        totals = self.totals()
        total_rows = [[kind, *(totals[kind][c] for c in CATEGORIES)] for kind in ("known", STRANGER, "all")]
        rows, columns, confusion = self.confusion()
        confusion_rows = [[r, *(confusion[r][c] or "" for c in columns)] for r in rows]

        def num(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"

        similarity_rows = [
            [
                s["band"],
                num(s["threshold"]),
                s["same_pairs"],
                s["different_pairs"],
                num(s["same_min"]),
                num(s["same_median"]),
                num(s["different_median"]),
                num(s["different_max"]),
                s["same_below_threshold"],
                s["different_at_or_above_threshold"],
            ]
            for s in self.similarity
        ]
        wrong_rows = [[p.filename, v.expected or STRANGER, v.got, num(v.similarity), v.band or "-"] for p, v in self.wrong_names]
        return {
            "probes": (["probe", "expected", "result", "latency s", "faces", "as labelled"], probe_rows),
            "totals": (["faces", *CATEGORIES], total_rows),
            "confusion": (["expected \\ result", *columns], confusion_rows),
            "similarity": (
                [
                    "band",
                    "threshold",
                    "same pairs",
                    "different pairs",
                    "same min",
                    "same median",
                    "different median",
                    "different max",
                    "same < threshold",
                    "different >= threshold",
                ],
                similarity_rows,
            ),
            "wrong": (["probe", "expected", "got", "similarity", "band"], wrong_rows),
        }

    def _headline(self) -> str:
        s = self.stats
        return (
            f"{self.passed}/{self.total} probes as labelled; {len(self.wrong_names)} wrong names; latency mean {seconds(s.get('mean_s'))} s, "
            f"p50 {seconds(s.get('p50_s'))} s, p95 {seconds(s.get('p95_s'))} s"
        )

    def _facts(self) -> list[str]:
        facts = [f"set: {self.workload}"]
        if self.model:
            c = calibration_for(self.model)
            facts.append(f"model: {self.model} (thresholds good {c.good} / fair {c.fair} / poor {c.poor}, margin {c.margin})")
        facts.append("enrolled: " + (", ".join(f"{n} ({c})" for n, c in self.enrolled.items()) or "nobody"))
        return facts

    def render(self) -> str:

        tables = self._tables()
        lines = [*self._facts()]
        lines += [f"warning: {w}" for w in self.warnings]
        titles = {
            "totals": "faces by category",
            "confusion": "confusion (faces)",
            "similarity": "similarity of the set's labelled faces (pairs from different files), by the pair's quality band",
        }
        lines += ["", table(tables["probes"][1], tables["probes"][0])]
        for key in ("totals", "confusion", "similarity"):
            lines += ["", titles[key] + ":", table(tables[key][1], tables[key][0])]
        if self.wrong_names:
            lines += ["", "WRONG NAMES:", table(tables["wrong"][1], tables["wrong"][0])]
        lines += ["", self._headline()]
        return "\n".join(lines)

    def markdown(self, plot: str | None = None) -> str:
        def md(headers: list[str], rows: list[list[Any]]) -> list[str]:
            def cell(value: Any) -> str:
                return str(value).replace("|", "\\|")

            return [
                "| " + " | ".join(headers) + " |",
                "|" + "---|" * len(headers),
                *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows),
            ]

        tables = self._tables()
        lines = [f"# `{self.command}`", "", *(f"- {fact}" for fact in self._facts()), "", f"**{self._headline()}**", ""]
        if self.warnings:
            lines += ["Warnings:", "", *(f"- {w}" for w in self.warnings), ""]
        sections = (
            ("Faces by category", "totals"),
            ("Wrong names", "wrong"),
            ("Confusion (faces)", "confusion"),
            ("Probes", "probes"),
            ("Similarity of the set's labelled faces (pairs from different files), by the pair's quality band", "similarity"),
        )
        for title, key in sections:
            if key == "wrong" and not tables[key][1]:
                continue
            lines += [f"## {title}", "", *md(*tables[key]), ""]
        if plot:
            lines += [f"![similarity]({plot})", ""]
        return "\n".join(lines)

    def write(self, out: Path) -> dict[str, Path]:
        """``eval.md``, ``eval.json`` and ``eval.png`` under ``out``."""
        out.mkdir(parents=True, exist_ok=True)
        paths = {kind: out / name for kind, name in REPORT_NAMES.items()}
        plot = None
        if self.pairs is not None and self.model:
            title = f"{self.model} on {self.workload}: same vs different person similarity"
            plot = plot_pairs(self.pairs, calibration_for(self.model), title, paths["plot"]).name
        else:
            paths.pop("plot")
        paths["markdown"].write_text(self.markdown(plot))
        paths["json"].write_text(json.dumps(self.as_dict(), indent=2, default=float) + "\n")
        return paths
