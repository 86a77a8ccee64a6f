"""``facepipe eval``: enroll a labelled set through the pipeline, send its probes, judge every face.

The set's faces are first found and named in process (``labelling.FaceLabeller``, the
pipeline's own detector and embedder); ``--downscale N`` then builds the camera-sized
version (``downscale.downscale``). Enrollment goes through ``Admin.enroll`` (photo by photo:
a photo without a face is a warning, not the end), probes through the function URL
(``client.send_frames``), answers come from the response queue.

Each face is judged as ``judging`` says: correct, wrong name, new person, unknown or no face;
the report is ``eval_report.EvalReport``.

The classic "probes as labelled" count (``sets.judge``: enrolled names left to right
plus the right number of new people) is kept; it is what ``make demo`` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facepipe.embedding.models import calibration_for
from facepipe_tools.admin import EnrollError
from facepipe_tools.client import send_frames, summary
from facepipe_tools.downscale import downscale
from facepipe_tools.eval_report import EvalReport, ProbeResult
from facepipe_tools.judging import judge_faces
from facepipe_tools.labelling import FaceLabeller, Labelling
from facepipe_tools.pairs import band_summary, pairs_of
from facepipe_tools.report import progress_bar
from facepipe_tools.sets import LabelledSet, Probe, default_workload, judge

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from facepipe_tools.admin import Admin


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
    sqs: SQSClient,
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
    outcomes = send_frames(
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
