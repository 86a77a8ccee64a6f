#!/usr/bin/env bash
# Purge the request and response queues (drop frames in flight and unclaimed answers), e.g.
# before a benchmark. DLQs and the photo queue are left alone.
#
#   scripts/purge-queues.sh [--yes] [--region REGION] [--request URL] [--response URL]
#
# Queue URLs default to REQUEST_QUEUE_URL / RESPONSE_QUEUE_URL, else to the terraform outputs.
# Asks for confirmation unless --yes; refuses to run when a queue URL is empty. SQS allows
# one purge per queue per 60 seconds and takes up to 60 seconds to finish one.
set -euo pipefail

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tf_dir="${TF_DIR:-${here}/../terraform}"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
request="${REQUEST_QUEUE_URL:-}"
response="${RESPONSE_QUEUE_URL:-}"
yes=0

while [ "$#" -gt 0 ]; do
    case "$1" in
        --yes | -y) yes=1; shift ;;
        --region) region="${2:?--region needs a value}"; shift 2 ;;
        --request) request="${2?--request needs a value}"; shift 2 ;;
        --response) response="${2?--response needs a value}"; shift 2 ;;
        -h | --help) usage 0 ;;
        *) echo "purge-queues: unknown argument: $1" >&2; usage 2 ;;
    esac
done

tf_output() {
    if command -v terraform >/dev/null && [ -d "${tf_dir}" ]; then
        terraform -chdir="${tf_dir}" output -raw "$1" 2>/dev/null || true
    fi
}
[ -n "${request}" ] || request="$(tf_output sqs_request_queue_url)"
[ -n "${response}" ] || response="$(tf_output sqs_response_queue_url)"

for pair in "request:${request}" "response:${response}"; do
    label="${pair%%:*}"
    url="${pair#*:}"
    if [ -z "${url}" ]; then
        echo "purge-queues: the ${label} queue URL is empty; pass --${label} URL or deploy first. Nothing purged." >&2
        exit 1
    fi
    case "${url}" in
        https://* | http://*) ;;
        *) echo "purge-queues: '${url}' is not a queue URL. Nothing purged." >&2; exit 1 ;;
    esac
done

echo "About to delete every message in:" >&2
echo "  request:  ${request}" >&2
echo "  response: ${response}" >&2
if [ "${yes}" -ne 1 ]; then
    if [ ! -t 0 ]; then
        echo "purge-queues: not a terminal; re-run with --yes to confirm. Nothing purged." >&2
        exit 1
    fi
    read -r -p "Type 'purge' to continue: " answer
    if [ "${answer}" != "purge" ]; then
        echo "purge-queues: cancelled. Nothing purged." >&2
        exit 1
    fi
fi

for url in "${request}" "${response}"; do
    aws sqs purge-queue --region "${region}" --queue-url "${url}"
    echo "purged ${url}" >&2
done
