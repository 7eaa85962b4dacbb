#!/usr/bin/env bash
# Everything `make test` runs, with DynamoDB Local at $AWS_ENDPOINT_URL_DYNAMODB
# (scripts/with-dynamodb.sh provides it): the API fuzzed against openapi.yaml, then every cargo test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --workspace --all-targets
if [ "${SKIP_SCHEMATHESIS:-0}" != 1 ]; then
  scripts/schemathesis.sh
fi
cargo test --workspace --all-targets --no-fail-fast
