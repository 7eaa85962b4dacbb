#!/usr/bin/env bash
# Runs a command with DynamoDB Local available at $AWS_ENDPOINT_URL_DYNAMODB.
# If AWS_ENDPOINT_URL_DYNAMODB is already set, that endpoint is used as it is. Otherwise DynamoDB
# Local is started in memory (port $DYNAMODB_PORT, or a free one) and stopped when the command ends.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# The SDK needs a region and credentials; DynamoDB Local accepts any, but every client must agree.
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"

if [ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
  exec "$@"
fi

port="${DYNAMODB_PORT:-$("$root/scripts/dynamodb-local.sh" free-port)}"
pid="$("$root/scripts/dynamodb-local.sh" start "$port")"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT INT TERM
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
echo "DynamoDB Local on $AWS_ENDPOINT_URL_DYNAMODB (pid $pid)" >&2
"$@"
