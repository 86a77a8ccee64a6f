"""The report of ``facepipe bench`` (``run_bench``), typed: what each part measured, and the
report as JSON (``BenchReport.as_dict``: the keys docs/reports/bench.json has) and back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from facepipe_tools.bench.measuring import Stats

#: the stages timed in process, as the report names them
STAGE_LABELS = {
    "decode": "decode (bytes -> RGB frame)",
    "detect": "detect (MTCNN)",
    "align_crop": "align/crop (per face)",
    "embed_face": "embed, one face a call",
    "embed_batch10": "embed, batch of 10 faces",
    "frame": "compute per frame (decode+detect+crop+embed)",
}


@dataclass(frozen=True)
class StageTiming:
    """One model's stages in process (ms), on ``frames`` frames holding ``faces`` faces."""

    faces: int
    frames: int
    decode: Stats
    detect: Stats
    align_crop: Stats
    embed_face: Stats
    embed_batch10: Stats
    frame: Stats

    def by_stage(self) -> dict[str, Stats]:
        """The stages by name, in ``STAGE_LABELS``' order."""
        return {name: getattr(self, name) for name in STAGE_LABELS}

    def as_dict(self) -> dict[str, Any]:
        return {"faces": self.faces, "frames": self.frames, **{name: s.as_dict() for name, s in self.by_stage().items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageTiming:
        return cls(data["faces"], data["frames"], **{name: Stats.from_dict(data[name]) for name in STAGE_LABELS})


@dataclass(frozen=True)
class ReferenceTiming:
    """Compute per frame (ms) of facepipe (``ours_model``) and of the references, ``paired`` as said."""

    ours_model: str
    paired: str
    ours: Stats
    naive: Stats
    face_recognition: Stats
    face_recognition_error: str | None = None

    @property
    def ratio_vs_naive(self) -> float:
        return round(self.naive.mean / self.ours.mean, 2)

    @property
    def ratio_vs_face_recognition(self) -> float | None:
        return round(self.face_recognition.mean / self.ours.mean, 2) if self.face_recognition.n else None

    def as_dict(self) -> dict[str, Any]:
        face_recognition: dict[str, Any] = self.face_recognition.as_dict()
        if self.face_recognition_error:
            face_recognition["error"] = self.face_recognition_error
        return {
            "ours_ms": self.ours.as_dict(),
            "naive_seed003_ms": self.naive.as_dict(),
            "face_recognition_ms": face_recognition,
            "ours_model": self.ours_model,
            "paired": self.paired,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceTiming:
        stats = {key: Stats.from_dict(data[key]) for key in ("ours_ms", "naive_seed003_ms", "face_recognition_ms")}
        return cls(
            data["ours_model"],
            data.get("paired", "one after another"),
            stats["ours_ms"],
            stats["naive_seed003_ms"],
            stats["face_recognition_ms"],
            data["face_recognition_ms"].get("error"),
        )


@dataclass(frozen=True)
class Speedup:
    """Median ms of some work with one and two threads, and the speed-up of the second."""

    one_thread_ms: float
    two_threads_ms: float
    speedup: float


@dataclass(frozen=True)
class Threads:
    """What a second vCPU buys detection (a 640x480 frame) and each model's recognition (a batch of 10)."""

    detection: Speedup
    recognition: dict[str, Speedup]

    def by_work(self) -> dict[str, Speedup]:
        """By the work as the report names it."""
        return {"detection (640x480 frame)": self.detection, **{f"recognition ({m}, batch of 10)": s for m, s in self.recognition.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Threads:
        speedups = {work: Speedup(**values) for work, values in data.items()}
        detection = speedups.pop("detection (640x480 frame)")
        return cls(detection, {w.removeprefix("recognition (").removesuffix(", batch of 10)"): s for w, s in speedups.items()})


@dataclass(frozen=True)
class GraderRun:
    """Requests sent the seed grader's way, and their latencies (s); ``latencies`` feeds the plot only."""

    requests: int
    answered: int
    failed: int
    faces_named: int
    latency_s: Stats
    foreign_receives: int
    latencies: list[float] = field(default_factory=list, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "latencies"} | {"latency_s": self.latency_s.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraderRun:
        return cls(**{**data, "latency_s": Stats.from_dict(data["latency_s"])})


@dataclass(frozen=True)
class ColdStart:
    """A function's cold start in fresh processes (s, medians of ``runs``; the slowest total) and its peak RSS (MB)."""

    handler_imports_s: float
    ml_imports_s: float
    init_s: float
    first_answer_s: float
    peak_rss_mb: float
    interpreter_s: float
    total_s: float
    runs: int
    total_s_max: float


@dataclass(frozen=True)
class EndToEnd:
    """One model through a local stack: the grader's runs (one at a time, then ``concurrency`` in flight),
    the functions' peak RSS, DynamoDB writes and a queue hop (ms), each function's cold start."""

    model: str
    stack_start_s: float
    concurrency: int
    single_640x480: GraderRun
    concurrency_1: GraderRun
    concurrent: GraderRun
    function_peak_rss_mb: dict[str, float]
    dynamodb_tag_write_ms: Stats
    queue_hop_ms: Stats
    cold_start: dict[str, ColdStart]

    def runs(self) -> dict[str, GraderRun]:
        """The grader's runs by the report's names (with ``concurrency`` 1, its run is ``concurrency_1``)."""
        return {
            "single_640x480": self.single_640x480,
            "concurrency_1": self.concurrency_1,
            f"concurrency_{self.concurrency}": self.concurrent,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "stack_start_s": self.stack_start_s,
            **{name: run.as_dict() for name, run in self.runs().items()},
            "function_peak_rss_mb": self.function_peak_rss_mb,
            "dynamodb_tag_write_ms": self.dynamodb_tag_write_ms.as_dict(),
            "queue_hop_ms": self.queue_hop_ms.as_dict(),
            "cold_start": {function: asdict(c) for function, c in self.cold_start.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndToEnd:
        concurrent = [key for key in data if key.startswith("concurrency_")][-1]
        return cls(
            data["model"],
            data["stack_start_s"],
            int(concurrent.removeprefix("concurrency_")),
            GraderRun.from_dict(data["single_640x480"]),
            GraderRun.from_dict(data["concurrency_1"]),
            GraderRun.from_dict(data[concurrent]),
            data["function_peak_rss_mb"],
            Stats.from_dict(data["dynamodb_tag_write_ms"]),
            Stats.from_dict(data["queue_hop_ms"]),
            {function: ColdStart(**c) for function, c in data["cold_start"].items()},
        )


@dataclass(frozen=True)
class RecordThreads:
    """ms per batch of ``records`` frames on recognition, finished one record at a time and ``threads`` at once."""

    model: str
    records: int
    threads: int
    one_at_a_time_ms: Stats
    at_once_ms: Stats
    speedup: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordThreads:
        return cls(**{**data, **{key: Stats.from_dict(data[key]) for key in ("one_at_a_time_ms", "at_once_ms")}})


@dataclass(frozen=True)
class LambdaSize:
    vcpus: int
    memory_mb: int
    seconds_per_frame: float
    usd_per_1000_frames: float


@dataclass(frozen=True)
class Sizing:
    """Each function's Lambda size and cost, for ``model``."""

    face_detection: LambdaSize
    face_recognition: LambdaSize
    model: str
    note: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sizing:
        return cls(LambdaSize(**data["face_detection"]), LambdaSize(**data["face_recognition"]), data["model"], data["note"])


@dataclass(frozen=True)
class BenchReport:
    """Every number of one ``facepipe bench`` run; ``stages``, ``index_query_ms`` and ``end_to_end`` by model."""

    command: str
    machine: str
    frame_set: str
    frames: int
    grader_frames: int
    torch_threads_in_process: int
    allocator: str
    facenet_weights: str
    stages: dict[str, StageTiming]
    references: ReferenceTiming
    index_size: int
    index_query_ms: dict[str, Stats]
    threads: Threads
    end_to_end: dict[str, EndToEnd]
    record_threads: RecordThreads | None
    sizing: Sizing

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON (``--json``)."""
        head = {f.name: getattr(self, f.name) for f in fields(self)[:8]}
        record_threads = {"record_threads": asdict(self.record_threads)} if self.record_threads else {}
        return {
            **head,
            "stages_ms": {model: s.as_dict() for model, s in self.stages.items()},
            "references": self.references.as_dict(),
            "ratio_vs_naive": self.references.ratio_vs_naive,
            "ratio_vs_face_recognition": self.references.ratio_vs_face_recognition,
            "index_query_ms": {"size": self.index_size, **{model: s.as_dict() for model, s in self.index_query_ms.items()}},
            "threads": {work: asdict(s) for work, s in self.threads.by_work().items()},
            "end_to_end": {model: e.as_dict() for model, e in self.end_to_end.items()},
            **record_threads,
            "lambda": asdict(self.sizing),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchReport:
        """A report from its JSON (to render it again)."""
        head = {f.name: data[f.name] for f in fields(cls)[:8] if f.name != "allocator"}
        index = dict(data["index_query_ms"])
        size = index.pop("size")
        return cls(
            **head,
            allocator=data.get("allocator", "the C library default"),
            stages={model: StageTiming.from_dict(s) for model, s in data["stages_ms"].items()},
            references=ReferenceTiming.from_dict(data["references"]),
            index_size=size,
            index_query_ms={model: Stats.from_dict(s) for model, s in index.items()},
            threads=Threads.from_dict(data["threads"]),
            end_to_end={model: EndToEnd.from_dict(e) for model, e in data["end_to_end"].items()},
            record_threads=RecordThreads.from_dict(data["record_threads"]) if data.get("record_threads") else None,
            sizing=Sizing.from_dict(data["lambda"]),
        )
