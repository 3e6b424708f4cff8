#!/usr/bin/env bash
# Runs the README's curl tour against a fresh cofferd on its embedded defaults, so the
# README cannot drift from the API. Usage: tests/readme_tour.sh [path/to/cofferd]
# With TOUR_RUNNING=1 the tour runs against the cofferd already answering on
# 127.0.0.1:8080 (podman/test.sh: the pod), and the given file is what the operator
# section runs as `cofferd` (there, a wrapper around `podman exec`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/debug/cofferd}"
WORK=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
BIN=$(realpath "$BIN")
[ "$(basename "$BIN")" = cofferd ] || { echo "$BIN is not named cofferd" >&2; exit 1; }
if [ "${TOUR_RUNNING:-}" = 1 ]; then
  curl -fs http://127.0.0.1:8080/readyz >/dev/null || { echo "nothing ready on 127.0.0.1:8080" >&2; exit 1; }
else
  # The tour talks to 127.0.0.1:8080, the default port: it must be free.
  if curl -fs http://127.0.0.1:8080/healthz >/dev/null 2>&1; then
    echo "something already answers on 127.0.0.1:8080" >&2; exit 1
  fi
  (cd "$WORK" && COFFER_EMBEDDED_S3_PORT=0 exec "$BIN" > cofferd.log 2>&1) &
  PID=$!
  for _ in $(seq 1 100); do curl -fs http://127.0.0.1:8080/healthz >/dev/null && break; sleep 0.1; done
fi
# Every ```sh block after "## API tour", in order, as one script.
# Then the operator section's (it creates the admin with the same binary).
awk '/^## API tour/ || /^## Operating Coffer/ {on=1} /^## Quotas/ || /^## The worker/ {on=0}
     on && /^```sh$/ {code=1; next} /^```$/ {code=0} on && code' README.md > "$WORK/tour.sh"
export PATH="$(dirname "$BIN"):$PATH"
cd "$WORK"
out=$(bash -euo pipefail tour.sh 2>&1) || { echo "$out"; echo "README tour failed" >&2; exit 1; }
echo "$out" | grep -q 'identical$' || { echo "$out"; echo "multipart download differs" >&2; exit 1; }
echo "$out" | grep -q '"missing_parts":\[\]' || { echo "$out"; exit 1; }
# The checksummed upload completed with its checksum.
echo "$out" | grep -q '"name":"checked.txt".*"checksum_sha256":"[A-Za-z0-9+/]\{43\}="' || { echo "$out"; echo "checksummed upload" >&2; exit 1; }
# The batch: both starts and both completions succeeded.
[ "$(echo "$out" | grep -o '"status":200,"file"' | wc -l)" -eq 2 ] || { echo "$out"; echo "batch complete" >&2; exit 1; }
names=$(python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(" ".join(sorted(z.namelist())))' "$WORK/results.zip")
[ "$names" = "hello.txt results/big.bin" ] || { echo "zip bundle holds: $names" >&2; exit 1; }
# Sharing: the owner's, bob's and the link's downloads each print the file's bytes.
[ "$(echo "$out" | grep -o 'hello coffer' | wc -l)" -ge 3 ] || { echo "$out"; echo "shared downloads missing" >&2; exit 1; }
echo "$out" | grep -q '"password_required":true' || { echo "$out"; exit 1; }
echo "$out" | grep -q '"download_count":1' || { echo "$out"; echo "link download not counted" >&2; exit 1; }
echo "$out" | grep -q '"inherited":true' || { echo "$out"; exit 1; }
# API tokens: the token reads usage, is listed without its secret, and fails once revoked.
echo "$out" | grep -q '"scopes":\["files:read","files:write"\]' || { echo "$out"; echo "token not listed" >&2; exit 1; }
[ "$(echo "$out" | grep -o '"reserved_bytes"' | wc -l)" -ge 2 ] || { echo "$out"; echo "usage through the token" >&2; exit 1; }
echo "$out" | grep -q '"error_code":"INVALID_TOKEN"' || { echo "$out"; echo "revoked token still works" >&2; exit 1; }
# A confined token's upload lands in its folder; its budget refuses a bigger one.
echo "$out" | grep -q '"name":"energy.csv"' || { echo "$out"; echo "confined upload" >&2; exit 1; }
echo "$out" | grep -q '"error_code":"TOKEN_BUDGET_EXCEEDED"' || { echo "$out"; echo "token budget" >&2; exit 1; }
# Operating: the quota change, the settings change, the deletion and a scrape.
echo "$out" | grep -q '"quota_bytes":107374182400' || { echo "$out"; exit 1; }
echo "$out" | grep -q '"registration_open":false' || { echo "$out"; exit 1; }
echo "$out" | grep -q '"purge_task_id"' || { echo "$out"; echo "user not deleted" >&2; exit 1; }
echo "$out" | grep -q 'coffer_users 2$' || { echo "$out"; echo "metrics scrape" >&2; exit 1; }
echo "README tour: ok"
