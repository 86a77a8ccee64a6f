# syntax=docker/dockerfile:1
# facepipe base image: Python 3.11 + CPU torch + the project's runtime dependencies + the
# VGGFace2 network (exported to ONNX from the checked weights), for linux/arm64 Lambda. Both function images (function.Dockerfile) build
# on it. Build from the repository root:
#   docker buildx build --platform linux/arm64 -f docker/base.Dockerfile -t facepipe-base:local .
#
# Why python:3.11-slim + awslambdaric rather than public.ecr.aws/lambda/python:3.11: that AWS
# image is Amazon Linux 2 (glibc 2.26), while the torch 2.14 / torchvision 0.29 aarch64 wheels
# are manylinux_2_28 and need glibc >= 2.28. Debian bookworm has 2.36, and awslambdaric is the
# runtime interface client the AWS images use themselves.

# Pinned by digest (the multi-architecture index of the tag, so buildx picks the arm64 image from
# it): a tag can be moved, a digest cannot. Update both together, from
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm   (the "Digest:" line)
# tests/deploy checks every FROM is digest-pinned.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# --- dependencies into a virtualenv ----------------------------------------------------------
FROM ${PYTHON_IMAGE} AS deps

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

# CPU-only torch: on aarch64 the PyPI torch 2.14 wheel depends on the CUDA 13 stack (GBs of
# libraries Lambda cannot use); the PyTorch CPU index serves the same version without it.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# 1 = also install the dlib extra (dlib-bin + face_recognition_models) for EMBEDDING_MODEL=dlib-resnet
ARG INCLUDE_DLIB=0
# 1 (with INCLUDE_DLIB=1) = dlib built here from its hash-checked source against OpenBLAS instead
# of dlib-bin, which has no BLAS: 5.2x faster descriptors on x86 (docs/reports/dlib-blas.md);
# adds ~10 min of compiling per architecture. Not built on the project's machine (no Docker there).
ARG DLIB_BLAS=0

WORKDIR /build
COPY requirements/ requirements/
COPY pyproject.toml ./

# 1. torch + torchvision as pinned in requirements/torch.txt; refuse any CUDA package.
#    Not yet hash-checked: the CPU index's hashes must be generated where it is reachable,
#      pip-compile --generate-hashes --index-url https://download.pytorch.org/whl/cpu \
#        --extra-index-url https://pypi.org/simple -o requirements/torch.txt
#    then add --require-hashes here (steps 2 and 3 already run with it).
RUN python -m venv /opt/venv \
    && pip install --index-url "${TORCH_INDEX_URL}" --extra-index-url https://pypi.org/simple -r requirements/torch.txt \
    && if pip list | grep -Ei '^(nvidia-|cuda-|triton)'; then \
         echo "CUDA packages were installed: torch did not come from ${TORCH_INDEX_URL}" >&2; exit 1; \
       fi

# 2. facenet-pytorch without its stale pins (torch<2.3, numpy<2, Pillow<10.3, which facenet-pytorch does not
#    need),
#    checked against its hash.
RUN pip install --require-hashes --no-deps -r requirements/no-deps.txt

# 3. the runtime dependencies of pyproject.toml and the Lambda runtime interface client, with
#    every transitive dependency pinned and hash-checked (requirements/runtime.txt, from
#    pip-compile --generate-hashes; tests/deploy holds it to pyproject.toml), + the dlib extra
#    the same way; dlib must import, or the build stops here.
RUN pip install --require-hashes -r requirements/runtime.txt \
    && if [ "${INCLUDE_DLIB}" = "1" ] && [ "${DLIB_BLAS}" = "1" ]; then \
         apt-get update && apt-get install -y --no-install-recommends g++=4:12.2.0-3 cmake=3.25.1-1 libopenblas-dev=0.3.21+ds-4 \
         && rm -rf /var/lib/apt/lists/* \
         && pip install --require-hashes --no-build-isolation --no-binary dlib -r requirements/dlib-blas.txt \
         && python -c "import dlib; assert dlib.DLIB_USE_BLAS, 'dlib was built without BLAS'"; \
       elif [ "${INCLUDE_DLIB}" = "1" ]; then \
         pip install --require-hashes -r requirements/dlib.txt; \
       fi \
    && if [ "${INCLUDE_DLIB}" = "1" ]; then python -c "import dlib, face_recognition_models; print('dlib', dlib.__version__)"; fi \
    && pip freeze > /opt/venv/requirements.lock

# --- weights, verified ------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS weights

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Same values as scripts/download_weights.py (tests/deploy checks they agree).
ARG VGGFACE2_FILE=20180402-114759-vggface2.pt
ARG VGGFACE2_SHA256=281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b

WORKDIR /opt/facepipe/weights
COPY scripts/download_weights.py /usr/local/bin/download_weights.py
RUN python /usr/local/bin/download_weights.py --quiet "/opt/facepipe/weights/${VGGFACE2_FILE}" \
    && echo "${VGGFACE2_SHA256}  ${VGGFACE2_FILE}" | sha256sum -c -

# --- the network, exported to ONNX -------------------------------------------------------------
# facepipe.embedding.build.onnx_export: the checked weights, batch norms folded, to the ONNX file the
# recognition function runs in onnxruntime (it never imports torch on its SQS path). torch's
# exporter needs the onnx package: hash-checked from requirements/export.txt, in this stage only;
# the build package (facepipe.embedding.build) is needed here only: the function images leave it out.
FROM deps AS export

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG VGGFACE2_FILE=20180402-114759-vggface2.pt
RUN pip install --require-hashes -r requirements/export.txt
COPY lambdas/facepipe /build/lambdas/facepipe
COPY --from=weights /opt/facepipe/weights /opt/facepipe/weights
RUN PYTHONPATH=/build/lambdas python -m facepipe.embedding.build.onnx_export \
      --weights "/opt/facepipe/weights/${VGGFACE2_FILE}" /opt/facepipe/onnx/facenet-vggface2.onnx \
    && PYTHONPATH=/build/lambdas python -c "from facepipe.embedding import load_embedder; load_embedder('facenet-vggface2', '/opt/facepipe/onnx/facenet-vggface2.onnx')"

# --- the base ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# dlib built against OpenBLAS (DLIB_BLAS=1) links its shared library at run time
ARG DLIB_BLAS=0
RUN if [ "${DLIB_BLAS}" = "1" ]; then \
      apt-get update && apt-get install -y --no-install-recommends libopenblas0-pthread=0.3.21+ds-4 && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=deps /opt/venv /opt/venv
COPY --from=export /opt/facepipe/onnx /opt/facepipe/weights

# Lambda's file system is read-only except /tmp: caches go there; nothing downloads at run time.
ENV PATH=/opt/venv/bin:$PATH \
    LAMBDA_TASK_ROOT=/var/task \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    TORCH_HOME=/tmp/torch \
    FACENET_WEIGHTS_PATH=/opt/facepipe/weights/facenet-vggface2.onnx

# Smoke test (the stack imports, torch is the CPU build), then an unprivileged user.
RUN python -c "import torch, torchvision, facenet_pytorch, onnxruntime, awslambdaric, PIL, numpy, cv2, boto3, pinecone, fastjsonschema, aws_xray_sdk, aws_lambda_powertools; \
assert not torch.cuda.is_available(); print('torch', torch.__version__, 'torchvision', torchvision.__version__)" \
    && useradd --uid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin facepipe \
    && mkdir -p /var/task \
    && chmod -R a+rX /opt/venv /opt/facepipe /var/task

WORKDIR /var/task
USER 10001
