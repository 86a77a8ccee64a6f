"""Time the dlib ResNet face descriptor of whichever dlib this interpreter imports; print one JSON line.

Run by scripts/bench_dlib_blas.sh with dlib-bin and with dlib built from source against OpenBLAS.
Usage: python scripts/dlib_descriptor_timing.py VECTORS.npy IMAGE...   (10 or more face photos)
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import dlib
import face_recognition_models
import numpy as np
from PIL import Image

REPEATS = 10


def main(argv: list[str]) -> int:
    out, paths = argv[0], argv[1:]
    if len(paths) < 10:
        print("give 10 or more face photos", file=sys.stderr)
        return 2
    network = dlib.face_recognition_model_v1(face_recognition_model_location())
    chips = [np.ascontiguousarray(np.asarray(Image.open(p).convert("RGB").resize((150, 150)), dtype=np.uint8)) for p in paths[:10]]
    network.compute_face_descriptor(chips[:1])  # warm-up
    one, batch = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        network.compute_face_descriptor(chips[:1])
        one.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        vectors = network.compute_face_descriptor(chips)
        batch.append((time.perf_counter() - started) * 1000)
    np.save(out, np.array([np.array(v) for v in vectors]))
    build = {"version": dlib.__version__, "blas": bool(dlib.DLIB_USE_BLAS), "avx": bool(dlib.USE_AVX_INSTRUCTIONS)}
    print(json.dumps({**build, "one_face_ms": round(statistics.median(one), 1), "batch_of_10_ms": round(statistics.median(batch), 1)}))
    return 0


def face_recognition_model_location() -> str:
    location: str = face_recognition_models.face_recognition_model_location()
    return location


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
