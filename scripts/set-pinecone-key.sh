#!/usr/bin/env bash
# Store the Pinecone API key in the SSM SecureString that face-recognition reads
# (terraform creates the parameter with a placeholder and never touches its value again).
#
# The key is read from standard input, never from the command line (argv shows up in `ps`
# and in shell history):
#   scripts/set-pinecone-key.sh [--region REGION] [--name /pinecone/facepipe] < key.txt
#   scripts/set-pinecone-key.sh                # on a terminal: prompts, without echo
#
# The parameter keeps the KMS key it already has (the stack's key); the value reaches the
# AWS CLI through a file only this user can read, removed on exit.
set -euo pipefail

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

region="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
name="${PINECONE_SSM_PARAMETER_NAME:-/pinecone/facepipe}"

while [ "$#" -gt 0 ]; do
    case "$1" in
        --region) region="${2:?--region needs a value}"; shift 2 ;;
        --name) name="${2:?--name needs a value}"; shift 2 ;;
        -h | --help) usage 0 ;;
        *) echo "set-pinecone-key: unknown argument: $1 (the key is read from stdin, not from arguments)" >&2; usage 2 ;;
    esac
done

command -v aws >/dev/null || { echo "set-pinecone-key: the AWS CLI (aws) is required" >&2; exit 1; }

key=""
if [ -t 0 ]; then
    read -r -s -p "Pinecone API key for ${name}: " key
    echo >&2
else
    IFS= read -r key || true   # first line of stdin; a missing final newline is fine
fi
key="${key//[[:space:]]/}"
if [ -z "${key}" ]; then
    echo "set-pinecone-key: no key on standard input" >&2
    exit 1
fi
if [ "${key}" = "set-by-scripts/set-pinecone-key.sh" ]; then
    echo "set-pinecone-key: that is the placeholder, not a Pinecone API key" >&2
    exit 1
fi

# Keep the parameter's KMS key: an overwrite without --key-id would switch to aws/ssm.
key_id="$(aws ssm describe-parameters --region "${region}" \
    --parameter-filters "Key=Name,Values=${name}" \
    --query 'Parameters[0].KeyId' --output text)"
if [ -z "${key_id}" ] || [ "${key_id}" = "None" ]; then
    echo "set-pinecone-key: parameter ${name} not found in ${region}; run 'make deploy' (terraform) first" >&2
    exit 1
fi

umask 077
tmp="$(mktemp)"
trap 'rm -f "${tmp}"' EXIT
printf '%s' "${key}" > "${tmp}"   # printf is a builtin: the key is never in a process's argv
unset key

aws ssm put-parameter --region "${region}" --name "${name}" --type SecureString \
    --key-id "${key_id}" --overwrite --value "file://${tmp}" --output text --query 'Version' >/dev/null
echo "set-pinecone-key: stored ${name} in ${region} (KMS key ${key_id##*/}); running functions pick it up within 5 minutes" >&2
