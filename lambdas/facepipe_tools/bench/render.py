"""The report of ``facepipe bench`` as Markdown (``render``) and its plot (``write_plot``), from a ``BenchReport``."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from facepipe_tools.bench.measuring import Stats
from facepipe_tools.bench.report import STAGE_LABELS, BenchReport
from facepipe_tools.report import markdown_table


def render(report: BenchReport, plot: Path, out: Path) -> str:
    models = list(report.stages)
    lines = [
        "# facepipe bench",
        "",
        f"Command: `{report.command}`  ",
        f"Machine: {report.machine}  ",
        f"Frames: {report.frame_set} ({report.frames} frames in process, {report.grader_frames} frames cycled by the grader)  ",
        f"facenet-vggface2 weights: **{report.facenet_weights}**  ",
        f"In-process torch threads: {report.torch_threads_in_process}  ",
        f"Allocator: {report.allocator}",
        "",
        "## Stages, in process (ms: min / median / p95)",
        "",
    ]
    rows = [[label, *(_spelled_triple(report.stages[m].by_stage()[stage]) for m in models)] for stage, label in STAGE_LABELS.items()]
    index = report.index_query_ms
    rows.append([f"index query, top 10 of {report.index_size:,} faces (embedded faiss)", *(_spelled_triple(index[m]) for m in models)])
    e2e = report.end_to_end
    rows.append(["DynamoDB tag write (emulator)", *(e2e[m].dynamodb_tag_write_ms.triple() if m in e2e else "-" for m in models)])
    rows.append(["queue hop: send + receive (emulator)", *(e2e[m].queue_hop_ms.triple() if m in e2e else "-" for m in models)])
    lines += markdown_table(rows, ["stage", *models])
    refs = report.references
    lines += [
        "",
        "## References, same frames, same threads (compute per frame, ms)",
        "",
        f"Measured {refs.paired}: facepipe's compute of a frame (decode, detect, crop, one embed call) and each reference's.",
        "",
        *markdown_table(
            [
                [f"facepipe ({refs.ours_model})", refs.ours.triple(), refs.ours.cell("mean"), "1.0"],
                [
                    "(a) naive seed 003: MTCNN on the full frame, one InceptionResnetV1 call per face",
                    refs.naive.triple(),
                    refs.naive.cell("mean"),
                    str(refs.ratio_vs_naive),
                ],
                [
                    "(b) face_recognition (HOG + dlib), seed 000",
                    refs.face_recognition.triple(),
                    refs.face_recognition.cell("mean"),
                    str(refs.ratio_vs_face_recognition),
                ],
            ],
            ["pipeline", "min / median / p95", "mean", "ratio (reference / facepipe)"],
        ),
        "",
        "## End to end through the local stack (s)",
        "",
        "The seed grader's client (each request thread POSTs its frame, then polls the response queue with "
        "`MaxNumberOfMessages=1`), run from a process of its own; the stack (AWS emulator, both functions, "
        "the client) shares this machine's cores.",
        "",
    ]
    rows = [
        [model, name, f"{run.answered}/{run.requests}", *(run.latency_s.cell(key) for key in ("mean", "median", "p95", "min"))]
        for model, end_to_end in report.end_to_end.items()
        for name, run in end_to_end.runs().items()
    ]
    lines += markdown_table(rows, ["model", "run", "answered", "mean", "p50", "p95", "min"])
    if threads := report.record_threads:
        lines += [
            "",
            f"## Finishing a batch's records: face-recognition, {threads.model}, batches of {threads.records} frames (ms)",
            "",
            "Two fresh local stacks alike but for `RECORD_THREADS`, invoked alternately with the same batches; "
            "each batch is embedded in one forward pass either way.",
            "",
        ]
        lines += markdown_table(
            [
                ["1 (one record after another)", threads.one_at_a_time_ms.triple(), "1.0"],
                [f"{threads.threads} (at once)", threads.at_once_ms.triple(), str(threads.speedup)],
            ],
            ["RECORD_THREADS", "min / median / p95 per batch", "speed-up (median)"],
        )
    lines += [
        "",
        "## Cold start (s) and peak RSS (MB), fresh process per function",
        "",
        "Medians of several fresh processes per function (each column, and the total; the slowest total beside it). "
        "First answer: the 640x480 one-face frame, to each function (recognition: its one-record batch). "
        "Peak RSS (fresh): the highest, after that and more answers, recognition's to batches of up to 10 frames.",
        "",
    ]
    cold_rows: list[list[object]] = [
        [
            model,
            function,
            c.interpreter_s,
            c.handler_imports_s,
            c.ml_imports_s,
            c.init_s,
            c.first_answer_s,
            f"{c.total_s} (slowest {c.total_s_max}, {c.runs} runs)",
            c.peak_rss_mb,
            end_to_end.function_peak_rss_mb.get(function, "-"),
        ]
        for model, end_to_end in report.end_to_end.items()
        for function, c in end_to_end.cold_start.items()
    ]
    lines += markdown_table(
        cold_rows,
        [
            "model",
            "function",
            "interpreter",
            "handler imports",
            "torch / onnxruntime / dlib imports",
            "INIT (models)",
            "first answer",
            "total",
            "peak RSS (fresh)",
            "peak RSS (after the grader runs)",
        ],
    )
    lines += ["", "## Threads: what a second vCPU buys (median ms)", ""]
    lines += markdown_table(
        [[work, s.one_thread_ms, s.two_threads_ms, s.speedup] for work, s in report.threads.by_work().items()],
        ["work", "1 thread", "2 threads", "speed-up"],
    )
    sizing = report.sizing
    lines += ["", f"## Lambda size and cost ({sizing.model}; {sizing.note})", ""]
    lines += markdown_table(
        [
            [function, size.vcpus, size.memory_mb, size.seconds_per_frame, size.usd_per_1000_frames]
            for function, size in (("face_detection", sizing.face_detection), ("face_recognition", sizing.face_recognition))
        ],
        ["function", "vCPUs", "memory (MB)", "billed s per frame", "USD per 1,000 frames"],
    )
    lines += ["", f"![bench]({os.path.relpath(plot, out.parent)})", ""]
    return "\n".join(lines)


def _spelled_triple(stats: Stats) -> str:
    """``min / median / p95``, each "-" when nothing was measured (the stages table's cells)."""
    return f"{stats.cell('min')} / {stats.cell('median')} / {stats.cell('p95')}"


def write_plot(report: BenchReport, path: Path) -> None:
    """Stages by model, compute per frame against the references, the grader's latencies at ``--concurrency``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (stages, refs, e2e) = plt.subplots(1, 3, figsize=(15, 4.2))
    models = list(report.stages)
    names = list(STAGE_LABELS)
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        stages_of = report.stages[model].by_stage()
        medians = [stages_of[s].median for s in names]
        p95 = [stages_of[s].p95 - m for s, m in zip(names, medians, strict=True)]
        stages.bar([x + i * width for x in range(len(names))], medians, width, yerr=[[0] * len(p95), p95], label=model, capsize=2)
    stages.set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(names))], [n.replace("_", "\n") for n in names], fontsize=8)
    stages.set_ylabel("ms (median, bar to p95)")
    stages.set_title("stages, in process")
    stages.legend(fontsize=8)
    r = report.references
    labels = [f"facepipe\n{r.ours_model}", "(a) naive\nseed 003", "(b) face_\nrecognition"]
    values = [r.ours.mean, r.naive.mean, r.face_recognition.mean]
    refs.bar(labels, values, color=["tab:green", "tab:orange", "tab:red"])
    refs.set_ylabel("ms per frame (mean)")
    refs.set_title(f"compute per frame: x{r.ratio_vs_naive} vs (a), x{r.ratio_vs_face_recognition} vs (b)")
    for model, values in ((model, e.concurrent.latencies) for model, e in report.end_to_end.items()):
        e2e.hist(values, bins=20, alpha=0.6, label=f"{model}: mean {statistics.fmean(values):.3f} s" if values else model)
    e2e.axvline(0.5, color="red", linestyle="--", linewidth=0.8, label="target 0.5 s")
    e2e.set_xlabel("latency (s), grader shape")
    e2e.set_ylabel("requests")
    e2e.set_title("end to end, local stack")
    e2e.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
