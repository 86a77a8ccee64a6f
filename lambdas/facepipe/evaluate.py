"""Enroll a labelled set, send its probes through the pipeline, score each against ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from facepipe.admin import Admin
from facepipe.client import Outcome, send_frames, summary
from facepipe.workloads import Workload, default_workload, judge


@dataclass
class EvalReport:
    workload: str
    enrolled: dict[str, int]
    rows: list[tuple[str, str, str, bool, str, float | None]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(1 for row in self.rows if row[3])

    @property
    def total(self) -> int:
        return len(self.rows)

    def render(self) -> str:
        from facepipe.cli import _seconds, _table

        lines = [f"workload: {self.workload}", "enrolled: " + ", ".join(f"{n} ({c})" for n, c in self.enrolled.items()), ""]
        lines.append(
            _table(
                [(f, exp, got, "ok" if ok else "FAIL", _seconds(lat) + " s", why) for f, exp, got, ok, why, lat in self.rows],
                ("probe", "expected", "result", "", "latency", "why"),
            )
        )
        s = self.stats
        lines += [
            "",
            f"{self.passed}/{self.total} probes as labelled; latency mean {_seconds(s.get('mean_s'))} s, "
            f"p50 {_seconds(s.get('p50_s'))} s, p95 {_seconds(s.get('p95_s'))} s",
        ]
        return "\n".join(lines)


def run_eval(admin: Admin, function_url: str, sqs: Any, response_queue_url: str, workload: Workload | None = None, concurrency: int = 4) -> EvalReport:
    workload = workload or default_workload()
    report = EvalReport(workload.name, {})
    for name, images in workload.enroll.items():
        result = admin.enroll(name, images)
        report.enrolled[name] = len(result.faces)
    frames = [(p.filename, p.content) for p in workload.probes]
    outcomes: list[Outcome] = send_frames(function_url, sqs, response_queue_url, frames, concurrency=concurrency)
    enrolled = set(workload.enroll)
    for probe, outcome in zip(workload.probes, outcomes, strict=True):
        ok, why = judge(probe, outcome.response, enrolled)
        expected = ", ".join(probe.expect) + (f" +{probe.unknown} new" if probe.unknown else "")
        report.rows.append((probe.filename, expected, repr(outcome.result), ok, why, outcome.latency))
    report.stats = summary(outcomes)
    return report
