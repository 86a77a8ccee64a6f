"""``facepipe bench``: its arithmetic, its references, and one tiny run through a local stack.

The numbers themselves are the benchmark's (docs/performance.md), not timed here: the run
below uses a one-photo set, one model and a handful of requests, and checks that every
section of the report is measured and written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facepipe_tools.bench import frames, measuring, references, sizing
from facepipe_tools.bench.render import render
from facepipe_tools.bench.report import BenchReport
from facepipe_tools.cli import main


def test_summary_gives_min_median_p95_mean():
    stats = measuring.summary([float(v) for v in range(1, 101)])
    assert stats.as_dict() == {"n": 100, "min": 1.0, "median": 50.5, "p95": 95.0, "mean": 50.5}  # the project's percentile: nearest rank
    assert measuring.summary([]).as_dict() == {"n": 0}


def test_lambda_sizing_buys_a_second_vcpu_only_when_two_threads_pay():
    # GIVEN work that two threads barely speed up, and work they speed up 1.8x
    one = sizing.lambda_sizing(speedup=1.1, peak_rss_mb=600, seconds_per_frame_1vcpu=0.1, architecture="x86_64")
    two = sizing.lambda_sizing(speedup=1.8, peak_rss_mb=600, seconds_per_frame_1vcpu=0.1, architecture="arm64", invocations_per_frame=0.1)
    # THEN one vCPU's worth of memory for the first, two for the second, billed for the time each takes
    assert (one.vcpus, one.memory_mb) == (1, sizing.MB_PER_VCPU)
    assert (two.vcpus, two.memory_mb) == (2, 2 * sizing.MB_PER_VCPU)
    assert two.seconds_per_frame == pytest.approx(0.1 / 1.8, abs=1e-4)
    expected = 1000 * 0.1 * sizing.MB_PER_VCPU / 1024 * sizing.PRICE_GB_SECOND["x86_64"] + 1000 * sizing.PRICE_REQUEST
    assert one.usd_per_1000_frames == pytest.approx(expected, abs=1e-5)


def test_threads_speedup_times_one_and_two_threads_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN work twice as fast on two threads, on a machine that slows down 5% with every call
    calls: list[int] = []

    def make(threads: int):
        return lambda: calls.append(threads)

    def timed_on_a_slowing_machine(function, *args):
        function()
        return None, (100.0 if calls[-1] == 1 else 50.0) * (1 + 0.05 * len(calls))

    monkeypatch.setattr(sizing, "timed", timed_on_a_slowing_machine)
    # WHEN the speed-up of a second thread is measured
    measured = sizing.threads_speedup(make, repeats=3)
    # THEN one and two threads take turns, and the speed-up read is the work's, not the slowdown's
    assert calls[:4] == [1, 2, 2, 1]
    assert calls.count(1) == calls.count(2) == 7  # a warm-up call each, then 6 timed
    assert measured.speedup == pytest.approx(2.0, rel=0.05)


def test_lambda_sizing_never_below_the_measured_memory():
    sized = sizing.lambda_sizing(speedup=1.0, peak_rss_mb=1500, seconds_per_frame_1vcpu=0.05, architecture="x86_64")
    assert sized.memory_mb >= 1.5 * 1500
    assert sized.memory_mb % 64 == 0


def test_bench_takes_the_pt_weights_it_can_export_else_random_ones(tmp_path, monkeypatch):
    from facepipe.embedding.facenet import RANDOM_WEIGHTS

    cached = tmp_path / "cache" / "20180402-114759-vggface2.pt"
    monkeypatch.setattr("facepipe.embedding.weights.default_weights_path", lambda: cached)
    given = tmp_path / "weights.pt"
    given.write_bytes(b"weights")
    exported = tmp_path / "facenet-vggface2.onnx"
    exported.write_bytes(b"onnx")
    cases = {RANDOM_WEIGHTS: (RANDOM_WEIGHTS, False), str(given): (str(given), True), str(exported): (RANDOM_WEIGHTS, False)}
    cases[str(tmp_path / "absent.pt")] = (RANDOM_WEIGHTS, False)
    for setting, expected in cases.items():
        monkeypatch.setenv("FACENET_WEIGHTS_PATH", setting)
        assert frames.weights_setting() == expected, setting
    # the weights in their default place serve when the setting names none the bench can use
    cached.parent.mkdir()
    cached.write_bytes(b"weights")
    for setting in ("", str(exported), str(tmp_path / "absent.pt")):
        monkeypatch.setenv("FACENET_WEIGHTS_PATH", setting)
        assert frames.weights_setting() == ("", True), setting


def test_face_recognition_reference_loads_the_library_not_the_handler():
    try:
        library = references.face_recognition_library()
    except ImportError:
        pytest.skip("face_recognition (the bench extra) is not installed")
    assert callable(library.face_encodings)
    assert callable(library.face_locations)


def test_the_committed_report_renders_from_its_json_as_committed():
    # GIVEN the committed run's numbers (docs/reports/bench.json) and its report (bench.md)
    docs = Path(__file__).parents[1] / "docs" / "reports"
    numbers = json.loads((docs / "bench.json").read_text())
    # WHEN they are read into the typed report and rendered again
    report = BenchReport.from_dict(numbers)
    # THEN it says the same, table for table, and its JSON is the same
    assert render(report, docs / "bench.png", docs / "bench.md") == (docs / "bench.md").read_text()
    assert report.as_dict() == numbers


@pytest.mark.slow
def test_bench_measures_every_section_on_a_tiny_set(tmp_path, grace_hopper_bytes, monkeypatch):
    # GIVEN a one-photo set, enrolled and probed with the same portrait
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "portrait.jpg").write_bytes(grace_hopper_bytes)
    labels = {"enroll": {"grace": ["portrait.jpg"]}, "probes": {"portrait.jpg": {"expect": ["grace"], "unknown": 0}}}
    (tmp_path / "set" / "labels.json").write_text(json.dumps(labels))
    monkeypatch.chdir(tmp_path)
    out, report_json = tmp_path / "bench.md", tmp_path / "bench.json"
    # WHEN the bench runs it through a local stack with dlib-resnet, camera-sized
    code = main(
        [
            "bench",
            str(tmp_path / "set"),
            "--models",
            "dlib-resnet",
            "--downscale",
            "64",
            "--requests",
            "4",
            "--concurrency",
            "2",
            "--single",
            "2",
            "--index-size",
            "500",
            "--repeats",
            "1",
            "--cold-starts",
            "2",
            "--no-progress",
            "--out",
            str(out),
            "--json",
            str(report_json),
        ]
    )
    # THEN every request is answered and every section is measured
    assert code == 0
    report = json.loads(report_json.read_text())
    stages = report["stages_ms"]["dlib-resnet"]
    assert stages["faces"] == 1
    for stage in ("decode", "detect", "align_crop", "embed_face", "embed_batch10", "frame"):
        assert stages[stage]["n"] >= 1
        assert 0 < stages[stage]["min"] <= stages[stage]["median"] <= stages[stage]["p95"]
    assert report["ratio_vs_naive"] > 0
    if report["references"]["face_recognition_ms"].get("n"):
        assert report["ratio_vs_face_recognition"] > 0
    assert report["index_query_ms"]["dlib-resnet"]["n"] == 300
    e2e = report["end_to_end"]["dlib-resnet"]
    for run in ("single_640x480", "concurrency_1", "concurrency_2"):
        assert e2e[run]["answered"] == e2e[run]["requests"]
        assert e2e[run]["latency_s"]["mean"] > 0
    for function in ("face_detection", "face_recognition"):
        cold = e2e["cold_start"][function]
        assert cold["runs"] == 2
        assert 0 < cold["init_s"] < cold["total_s"] <= cold["total_s_max"]
        assert cold["peak_rss_mb"] > 50
        assert e2e["function_peak_rss_mb"][function] > 50
    assert e2e["dynamodb_tag_write_ms"]["n"] == 10
    assert e2e["queue_hop_ms"]["n"] == 10
    threads = report["record_threads"]  # the same batches, records finished one at a time and at once
    assert threads["model"] == "dlib-resnet"
    assert threads["records"] == 1  # the one-face set makes one-record batches
    assert threads["threads"] == 10
    assert threads["one_at_a_time_ms"]["n"] == threads["at_once_ms"]["n"] == 2
    assert threads["speedup"] > 0
    assert report["lambda"]["face_detection"]["memory_mb"] >= sizing.MB_PER_VCPU
    assert BenchReport.from_dict(report).as_dict() == report  # the typed report and its JSON say the same
    text = out.read_text()
    assert "ratio" in text
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_events_report_counts_requests_per_frame_by_kind():
    from facepipe_tools.bench.events import EventsReport, Run, render_events

    # GIVEN two frames each way: publishing adds one UpdateItem and one PutEvents a frame
    off = Run([10.0, 12.0], [], {"dynamodb:UpdateItem": 2, "dynamodb:PutItem": 4, "sqs:SendMessage": 2, "s3:PutObject": 2})
    on = Run([11.0, 13.0], [1.0, 1.5], {**off.requests, "dynamodb:UpdateItem": 4, "events:PutEvents": 2}, events=2)
    report = EventsReport(2, 3, 5, {("present", True): on, ("present", False): off}, 1.0)
    # WHEN the report is written
    text = render_events(report, "facepipe bench --events")
    # THEN each row says the requests per frame by kind, the events, the times
    assert "| people present (no arrival) | on | 4.00 | 1.00 | 1.00 | 1.00 | 1.00 | 12.0 | 13.0 | 1.25 | 1.5 |" in text
    assert "| people present (no arrival) | off | 3.00 | 0.00 | 1.00 | 1.00 | 0.00 | 11.0 | 12.0 | - | - |" in text
    assert "| UpdateItem | 2.00 | 1.00 |" in text
