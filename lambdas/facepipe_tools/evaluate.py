"""``facepipe eval``: enroll a labelled set through the pipeline, send its probes, judge every face.

The set's faces are first found and named in process (``labelling.FaceLabeller``, the
pipeline's own detector and embedder); ``--downscale N`` then builds the camera-sized
version (``labelling.downscale``). Enrollment goes through ``Admin.enroll`` (photo by photo:
a photo without a face is a warning, not the end), probes through the function URL
(``client.send_frames``), answers come from the response queue.

Each face is judged as ``judging`` says: correct, wrong name, new person, unknown or no face.

The classic "probes as labelled" count (``sets.judge``: enrolled names left to right
plus the right number of new people) is kept; it is what ``make demo`` prints.

"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from facepipe.matching import calibration_for
from facepipe_tools.admin import Admin, EnrollError
from facepipe_tools.client import Outcome, send_frames, summary
from facepipe_tools.judging import CATEGORIES, STRANGER, FaceVerdict, judge_faces
from facepipe_tools.labelling import FaceLabeller, Labelling, downscale
from facepipe_tools.pairs import Pairs, band_summary, pairs_of, plot_pairs
from facepipe_tools.report import progress_bar, seconds, table
from facepipe_tools.sets import LabelledSet, Probe, default_workload, judge

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
    stats: dict[str, Any] = field(default_factory=dict)
    similarity: list[dict] = field(default_factory=list)
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
        counts = {kind: Counter() for kind in ("known", STRANGER)}
        for _, verdict in self.verdicts:
            counts["known" if verdict.known else STRANGER][verdict.category] += 1
        table = {kind: {c: counts[kind][c] for c in CATEGORIES} for kind in counts}
        table["all"] = {c: table["known"][c] + table[STRANGER][c] for c in CATEGORIES}
        return table

    def confusion(self) -> tuple[list[str], list[str], dict[str, dict[str, int]]]:
        """(rows, columns, counts): expected name or ``stranger`` -> result name, new, unknown, no face."""
        enrolled = set(self.enrolled)
        counts: dict[str, Counter] = {}
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


def _expected(probe: Probe) -> str:
    strangers = [f"+{probe.unknown} stranger{'s' if probe.unknown > 1 else ''}"] if probe.unknown else []
    return ", ".join([*probe.expect, *strangers]) or "no face"


def enroll_set(admin: Admin, labelled: LabelledSet, progress: bool = False) -> tuple[dict[str, int], list[str]]:
    """Enroll photo by photo; a photo the pipeline finds no face in is a warning."""
    enrolled: dict[str, int] = {}
    warnings: list[str] = []
    bar = progress_bar(sum(len(f) for f in labelled.enroll.values()), "enrolling", progress)
    for name, images in labelled.enroll.items():
        for filename, data in images:
            bar.update()
            try:
                report = admin.enroll(name, [(filename, data)])
            except EnrollError as exc:
                warnings.append(f"not enrolled: {exc}")
                continue
            enrolled[name] = enrolled.get(name, 0) + len(report.faces)
    bar.close()
    return enrolled, warnings


def label_set(labelled: LabelledSet, labeller: FaceLabeller, downscale_to: int | None = None, progress: bool = False) -> Labelling:
    """The set's faces found and named in process, and its camera-sized version when asked."""
    labelling = labeller.label(labelled, progress=progress)
    return downscale(labelling, downscale_to, labeller, progress=progress) if downscale_to else labelling


def run_eval(
    admin: Admin,
    function_url: str,
    sqs: Any,
    response_queue_url: str,
    workload: LabelledSet | None = None,
    concurrency: int = 4,
    *,
    labelling: Labelling | None = None,
    downscale_to: int | None = None,
    progress: bool = False,
    command: str = "facepipe eval",
) -> EvalReport:
    """Enroll, send every probe, judge. ``labelling`` (``label_set``) may be made beforehand,
    e.g. before a local stack starts in this process; otherwise the set (default: the shared
    fixtures) is labelled here with the admin's detector and embedder."""
    recognizer = admin.recognizer
    if labelling is None:
        labeller = FaceLabeller(recognizer.detector, recognizer.embedder, recognizer.settings.max_image_pixels)
        labelling = label_set(workload or default_workload(), labeller, downscale_to, progress)
    labelled = labelling.set
    enrolled, warnings = enroll_set(admin, labelled, progress)
    report = EvalReport(
        labelled.name,
        enrolled,
        model=recognizer.embedder.model,
        command=command,
        downscale=downscale_to,
        warnings=labelling.warnings + warnings,
    )

    bar = progress_bar(len(labelled.probes), "probes", progress, unit="frame")
    outcomes: list[Outcome] = send_frames(
        function_url,
        sqs,
        response_queue_url,
        [(p.filename, p.content) for p in labelled.probes],
        concurrency=concurrency,
        progress=lambda _: bar.update(),
    )
    bar.close()
    names = set(enrolled)
    for probe, outcome in zip(labelled.probes, outcomes, strict=True):
        ok, why = judge(probe, outcome.response, names)
        report.probes.append(
            ProbeResult(
                probe.filename,
                _expected(probe),
                outcome.result,
                outcome.latency,
                outcome.status,
                ok,
                why,
                judge_faces(probe, outcome.response, names),
            )
        )
    report.stats = summary(outcomes)
    report.pairs = pairs_of(labelling.faces)
    report.similarity = band_summary(report.pairs, calibration_for(report.model))
    return report
