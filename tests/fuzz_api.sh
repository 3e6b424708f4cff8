#!/usr/bin/env bash
# Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis,
# from PyPI): every generated request must get a non-5xx answer. Not part of CI (it
# installs from PyPI and takes minutes); run it after API changes.
# Usage: tests/fuzz_api.sh [max examples per operation, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v st >/dev/null || pip install -q schemathesis
cargo build --release --bin cofferd -q
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$WORK" && COFFER_PORT=$PORT COFFER_EMBEDDED_S3_PORT=0 COFFER_LOG=warn \
  COFFER_RATE_LIMIT_USER_PER_MINUTE=100000000 COFFER_RATE_LIMIT_USER_BURST=100000000 \
  COFFER_RATE_LIMIT_AUTH_PER_MINUTE=100000000 COFFER_RATE_LIMIT_AUTH_BURST=100000000 \
  exec "$OLDPWD/target/release/cofferd" > cofferd.log 2>&1) &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.1; done
curl -fs -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"username":"fuzz","password":"fuzzing passphrase 1"}' >/dev/null
TOKEN=$(curl -fs -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"fuzz","password":"fuzzing passphrase 1"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
# logout, logout-all and password change would revoke the token mid-run.
# Run from the temp dir: schemathesis keeps a cache in its working directory.
(cd "$WORK" && st run "$BASE/openapi.json" --url "$BASE" -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error --max-examples "${1:-60}" --workers 2 --exclude-path-regex 'logout|password')
if grep -q "request failed" "$WORK/cofferd.log"; then
  grep "request failed" "$WORK/cofferd.log" >&2
  exit 1
fi
