#!/usr/bin/env bash
# Build the base and both function images for linux/arm64 and push them to the stack's ECR
# repository, tagged with the git sha. Prints the tag (the only line on stdout) for
# `terraform apply -var image_tag=<tag>`; everything else goes to stderr.
#
#   scripts/build-and-push.sh [--region REGION] [--repository-url URL] [--tag TAG] [--include-dlib [--dlib-blas]]
#
# --dlib-blas builds dlib from source against OpenBLAS (5.2x faster descriptors on x86, arm64 not
# measured; ~10 min more).
# The repository URL defaults to the terraform output ecr_repository_url. Tags are immutable:
# images whose tag is already in the repository are not rebuilt. A dirty work tree gets a
# "-dirty-<UTC time>" suffix so it never reuses a clean commit's tag.
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
tf_dir="${TF_DIR:-${root}/terraform}"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
repository="${ECR_REPOSITORY_URL:-}"
tag="${IMAGE_TAG:-}"
include_dlib=0
dlib_blas=0
platform="linux/arm64"

while [ "$#" -gt 0 ]; do
    case "$1" in
        --region) region="${2:?--region needs a value}"; shift 2 ;;
        --repository-url) repository="${2:?--repository-url needs a value}"; shift 2 ;;
        --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
        --include-dlib) include_dlib=1; shift ;;
        --dlib-blas) dlib_blas=1; shift ;;
        -h | --help) usage 0 ;;
        *) echo "build-and-push: unknown argument: $1" >&2; usage 2 ;;
    esac
done

for tool in aws docker git; do
    command -v "${tool}" >/dev/null || { echo "build-and-push: ${tool} is required" >&2; exit 1; }
done
docker buildx version >/dev/null 2>&1 || { echo "build-and-push: docker buildx is required" >&2; exit 1; }

if [ -z "${repository}" ]; then
    repository="$(terraform -chdir="${tf_dir}" output -raw ecr_repository_url 2>/dev/null || true)"
fi
case "${repository}" in
    *.dkr.ecr.*.amazonaws.com*/*) ;;
    *) echo "build-and-push: no ECR repository URL ('${repository}'); run 'make -f deploy.mk ecr' or pass --repository-url" >&2; exit 1 ;;
esac
registry="${repository%%/*}"

if [ -z "${tag}" ]; then
    tag="$(git -C "${root}" rev-parse --short=12 HEAD 2>/dev/null || echo nogit)"
    if [ -n "$(git -C "${root}" status --porcelain 2>/dev/null)" ]; then
        tag="${tag}-dirty-$(date -u +%Y%m%d%H%M%S)"
    fi
fi

echo "logging in to ${registry}" >&2
aws ecr get-login-password --region "${region}" | docker login --username AWS --password-stdin "${registry}" >&2

exists() {  # is <repository>:<tag> already pushed?
    aws ecr describe-images --region "${region}" --repository-name "${repository#*/}" \
        --image-ids "imageTag=$1" >/dev/null 2>&1
}

# --provenance/--sbom off: buildx would otherwise push an image index with attestation
# manifests, which Lambda refuses ("image manifest media type not supported").
# https://docs.aws.amazon.com/lambda/latest/dg/images-create.html
build() {  # build <dockerfile> <tag> [build args...]
    local dockerfile="$1" image="${repository}:$2"
    shift 2
    if exists "${image##*:}"; then
        echo "${image} already pushed (immutable tag): skipped" >&2
        return
    fi
    echo "building ${image}" >&2
    docker buildx build --platform "${platform}" --provenance=false --sbom=false \
        -f "${root}/${dockerfile}" "$@" -t "${image}" --push "${root}" >&2
}

build docker/base.Dockerfile "base-${tag}" --build-arg "INCLUDE_DLIB=${include_dlib}" --build-arg "DLIB_BLAS=${dlib_blas}"
for function in face-detection face-recognition; do
    module="${function//-/_}"
    build docker/function.Dockerfile "${function}-${tag}" \
        --build-arg "BASE_IMAGE=${repository}:base-${tag}" \
        --build-arg "HANDLER=${module}.handler.handler"
done

echo "images:" >&2
echo "  ${repository}:face-detection-${tag}" >&2
echo "  ${repository}:face-recognition-${tag}" >&2
echo "${tag}"
