#!/usr/bin/env bash
# Everything `make test` runs, with DynamoDB Local at $AWS_ENDPOINT_URL_DYNAMODB
# (scripts/with-dynamodb.sh provides it): clippy with warnings as errors, the API fuzzed against
# openapi.yaml, then every cargo test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --workspace --all-targets
cargo clippy --workspace --all-targets -- -D warnings
if [ "${SKIP_SCHEMATHESIS:-0}" != 1 ]; then
  scripts/schemathesis.sh
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one per test binary, the last often a binary
# without tests).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
