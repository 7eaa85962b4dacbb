#!/usr/bin/env bash
# Fuzzes the local server against openapi.yaml with schemathesis, as two accounts: any 5xx, any
# response that does not match the spec, and any invalid request not rejected with a 4xx fail.
# Needs DynamoDB Local at $AWS_ENDPOINT_URL_DYNAMODB (run through scripts/with-dynamodb.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/venv-st"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet "schemathesis>=4,<5"
fi
port="$("$root/scripts/dynamodb-local.sh" free-port)"
log="$(mktemp)"
TABLE_NAME="schemathesis-$RANDOM$RANDOM" PORT="$port" RUST_LOG=warn "$root/target/debug/backorder-local" serve >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
grep -q "listening on" "$log" || { cat "$log"; echo "the local server did not start" >&2; exit 1; }

export SCHEMATHESIS_TELEMETRY=false
for account in fuzz-account-a fuzz-account-b; do
  echo "schemathesis: account $account"
  "$venv/bin/schemathesis" run "$root/openapi.yaml" \
    --url "http://127.0.0.1:$port" \
    --header "X-Account-Id: $account" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
    --phases examples,fuzzing,stateful \
    --max-time "${SCHEMATHESIS_MAX_TIME:-40}" \
    --workers 2 \
    --no-color
done
