#!/usr/bin/env bash
# Benchmark: /healthz vs GET /api/v1/auth/me (valid token) in one run, with wrk.
# Usage: tests/bench/auth.sh [duration, default 15s] [connections, default 32]
# DATABASE_URL may point at PostgreSQL; default is a fresh SQLite file.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-15s}"
CONNS="${2:-32}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --bin cofferd -q

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
export COFFER_DATA_DIR="$WORK" COFFER_PORT="$PORT" COFFER_EMBEDDED_S3_PORT=0 COFFER_LOG=warn \
  COFFER_RATE_LIMIT_USER_PER_MINUTE=100000000 COFFER_RATE_LIMIT_USER_BURST=100000000
./target/release/cofferd > "$WORK/cofferd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.1; done

curl -fs -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"benchmark passphrase 1"}' >/dev/null
TOKEN=$(curl -fs -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"benchmark passphrase 1"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')

run() { # name, path, extra wrk args...
  local name=$1 path=$2; shift 2
  wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$@" "$BASE$path" > "$WORK/$name.txt"
  local rps p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/$name.txt")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/$name.txt")
  if grep -q "Non-2xx" "$WORK/$name.txt"; then echo "$name: non-2xx answers" >&2; cat "$WORK/$name.txt" >&2; exit 1; fi
  echo "$name $rps $p99"
}

echo "endpoint requests/s p99"
H=$(run healthz /healthz)
echo "$H"
M=$(run me /api/v1/auth/me -H "Authorization: Bearer $TOKEN")
echo "$M"
python3 - "$H" "$M" <<'PY'
import sys
h = float(sys.argv[1].split()[1]); m = float(sys.argv[2].split()[1])
print(f"ratio me/healthz = {m / h:.1%} (target >= 50%)")
PY
