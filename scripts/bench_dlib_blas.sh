#!/usr/bin/env bash
# dlib-bin against dlib built from source with OpenBLAS: the ResNet descriptor's time per face and
# per batch of 10 (one thread), and how far the vectors differ. Writes docs/reports/dlib-blas.md.
# Needs a C++ compiler, cmake and OpenBLAS (Debian: apt-get install g++ cmake libopenblas-dev);
# the build takes ~10 min on 2 cores.   Usage: scripts/bench_dlib_blas.sh [FACE_PHOTO...]
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT_PY=.venv/bin/python
BUILD_VENV=.venv-dlib-blas
DLIB_SDIST="dlib==19.24.6 --hash=sha256:77e3c28ac2c66141514b07cbb74b7c7f80381c019ce5fec99007980bc6490d7d"
OUT=docs/reports/dlib-blas.md

photos=("$@")
if [ ${#photos[@]} -eq 0 ]; then
  mapfile -t photos < <(find ../shared/fixtures/faces/test ../shared/fixtures/faces/train -type f -name '*.jp*g' | sort | head -10)
fi
if [ ! -x "${BUILD_VENV}/bin/python" ] || ! "${BUILD_VENV}/bin/python" -c "import dlib; assert dlib.DLIB_USE_BLAS" 2>/dev/null; then
  python3 -m venv "${BUILD_VENV}"
  "${BUILD_VENV}/bin/pip" install -q "$("${PROJECT_PY}" -c 'import numpy; print("numpy==" + numpy.__version__)')" \
    "setuptools<81" wheel cmake face_recognition_models==0.3.0 pillow
  echo "building dlib from source against OpenBLAS (~10 min) ..." >&2
  echo "${DLIB_SDIST}" > "${BUILD_VENV}/dlib-requirement.txt"
  OPENBLAS_NUM_THREADS=1 "${BUILD_VENV}/bin/pip" install -q --no-build-isolation --no-binary dlib --require-hashes \
    -r "${BUILD_VENV}/dlib-requirement.txt"
fi
tmp=$(mktemp -d)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
bin=$("${PROJECT_PY}" scripts/dlib_descriptor_timing.py "${tmp}/bin.npy" "${photos[@]}" 2>/dev/null)
src=$("${BUILD_VENV}/bin/python" scripts/dlib_descriptor_timing.py "${tmp}/src.npy" "${photos[@]}" 2>/dev/null)
"${PROJECT_PY}" - "${bin}" "${src}" "${tmp}" "${OUT}" "$0 $*" <<'PY'
import json, sys
import numpy as np
bin_, src, tmp, out, command = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
a, b = np.load(f"{tmp}/bin.npy"), np.load(f"{tmp}/src.npy")
cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
rows = [("dlib-bin (PyPI wheel)", bin_), ("dlib from source + OpenBLAS", src)]
lines = [
    "# dlib ResNet descriptor: dlib-bin against a source build with OpenBLAS",
    "",
    f"Command: `{command.strip()}` (one thread; 10 face photos at 150x150)",
    "",
    "| build | version | AVX | BLAS | one face (ms) | batch of 10 (ms) |",
    "|---|---|---|---|---|---|",
    *[f"| {name} | {r['version']} | {r['avx']} | {r['blas']} | {r['one_face_ms']} | {r['batch_of_10_ms']} |" for name, r in rows],
    "",
    f"Speed-up: {bin_['batch_of_10_ms'] / src['batch_of_10_ms']:.1f}x per batch of 10, {bin_['one_face_ms'] / src['one_face_ms']:.1f}x per face.",
    f"Vectors: largest component difference {np.abs(a - b).max():.2e}, lowest cosine between the builds {cosine.min():.8f}.",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
rm -rf "${tmp}"
