#!/usr/bin/env bash
# Benchmark (wrk, 32 connections, one run): /healthz, /metrics, POST /api/v1/uploads (single part,
# quota reserved), GET /api/v1/files/{id}/download, and listing a folder of 100,000 files
# (first page, and a cursor deep in the folder) -- on SQLite, then on PostgreSQL.
# Usage: tests/bench/files.sh [duration, default 10s]
# PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); a fresh
# database is created and dropped. BENCH_SKIP_PG=1 runs SQLite only.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-10s}"
CONNS=32
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
FILES=100000
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# BENCH_BIN: a cofferd binary to measure instead of this tree's release build (to compare
# two commits on the same machine).
BIN="${BENCH_BIN:-./target/release/cofferd}"
[ -n "${BENCH_BIN:-}" ] || cargo build --release --bin cofferd -q
BIN=$(realpath "$BIN")
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

cat > "$WORK/start.lua" <<'LUA'
local n, id = 0, 0
local counter = 0
function setup(thread) thread:set("tid", id); id = id + 1 end
function request()
  counter = counter + 1
  local body = string.format('{"name":"bench-%s-%d-%d","size":1024,"content_type":"application/octet-stream"}',
    os.getenv("RUN"), tid, counter)
  return wrk.format("POST", "/api/v1/uploads",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("TOKEN")}, body)
end
LUA

json() { python3 -c "import json,sys;print(json.load(sys.stdin)$1)"; }

# Inserts $FILES file rows into folder $1 (ids random, timestamps copied from the folder row).
populate() {
  local folder=$1 db=$2
  if [ "$db" = sqlite ]; then
    python3 - "$WORK/data/coffer.db" "$folder" "$FILES" <<'PY'
import sqlite3, sys, uuid
path, folder, n = sys.argv[1], uuid.UUID(sys.argv[2]).bytes, int(sys.argv[3])
c = sqlite3.connect(path)
c.execute("""WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
  INSERT INTO files (id, owner_id, parent_id, parent_key, name, kind, size, content_type, object_key, state, tier, created_at, updated_at)
  SELECT randomblob(16), f.owner_id, f.id, f.id, printf('f%06d', seq.i), 'file', 1, 'application/octet-stream',
         'bench/' || seq.i, 'active', 'primary', f.created_at, f.updated_at
  FROM seq, files f WHERE f.id = ?""", (n, folder))
c.commit()
PY
  else
    psql "$DB_URL" -qc "INSERT INTO files (id, owner_id, parent_id, parent_key, name, kind, size, content_type, object_key, state, tier, created_at, updated_at)
      SELECT gen_random_uuid(), f.owner_id, f.id, f.id, 'f' || lpad(i::text, 6, '0'), 'file', 1, 'application/octet-stream',
             'bench/' || i, 'active', 'primary', f.created_at, f.updated_at
      FROM generate_series(1, $FILES) i, files f WHERE f.id = '$folder'; ANALYZE files;"
  fi
}

run() { # label path [wrk args...]
  local label=$1 path=$2; shift 2
  wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$@" "$BASE$path" > "$WORK/out.txt"
  if grep -q "Non-2xx" "$WORK/out.txt"; then echo "$label: non-2xx answers" >&2; cat "$WORK/out.txt" >&2; exit 1; fi
  printf '%s\t%s\t%s\n' "$label" "$(awk '/^Requests\/sec/ {print $2}' "$WORK/out.txt")" "$(awk '$1=="99%" {print $2}' "$WORK/out.txt")"
}

bench() { # db-label database-url
  local db=$1
  rm -rf "$WORK/data"
  PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  COFFER_DATA_DIR="$WORK/data" COFFER_PORT=$PORT COFFER_EMBEDDED_S3_PORT=0 COFFER_LOG=warn DATABASE_URL="$2" \
  COFFER_RATE_LIMIT_USER_PER_MINUTE=100000000 COFFER_RATE_LIMIT_USER_BURST=100000000 \
  COFFER_DEFAULT_QUOTA_BYTES=1000000000000000 COFFER_DEFAULT_QUOTA_OBJECTS=1000000000 COFFER_DB_MAX_CONNECTIONS=16 \
    "$BIN" > "$WORK/cofferd-$db.log" 2>&1 &
  PID=$!
  BASE="http://127.0.0.1:$PORT"
  for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.1; done
  curl -fs -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"benchmark passphrase 1"}' >/dev/null
  TOKEN=$(curl -fs -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"benchmark passphrase 1"}' | json '["access_token"]')
  export TOKEN RUN=$RANDOM
  local auth="Authorization: Bearer $TOKEN"
  # One real file to download.
  local start file
  start=$(curl -fs -XPOST "$BASE/api/v1/uploads" -H "$auth" -H 'content-type: application/json' \
    -d '{"name":"payload.bin","size":4,"content_type":"application/octet-stream"}')
  curl -fs -XPUT "$(echo "$start" | json '["put"]["url"]')" -H 'content-type: application/octet-stream' --data-binary 'data' >/dev/null
  file=$(curl -fs -XPOST "$BASE/api/v1/uploads/$(echo "$start" | json '["upload_id"]')/complete" -H "$auth" | json '["id"]')
  # A folder of 100,000 files.
  local folder deep
  folder=$(curl -fs -XPOST "$BASE/api/v1/folders" -H "$auth" -H 'content-type: application/json' -d '{"name":"big"}' | json '["id"]')
  DB_URL=$2 populate "$folder" "$db"
  deep=$(python3 -c 'import base64,json;print(base64.urlsafe_b64encode(json.dumps({"k":"file","n":"f090000"}).encode()).decode().rstrip("="))')
  local count
  count=$(curl -fs "$BASE/api/v1/folders/$folder/items?limit=1000&cursor=$deep" -H "$auth" | json '["items"].__len__()')
  [ "$count" = 1000 ] || { echo "deep page has $count items" >&2; exit 1; }

  run "$db healthz" /healthz
  # A Prometheus scrape: counters from memory, task counts and quota totals from the database.
  # (skipped for builds from before /metrics existed)
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/metrics")" = 200 ]; then run "$db metrics" /metrics; fi
  run "$db upload-start" /api/v1/uploads -s "$WORK/start.lua"
  run "$db download" "/api/v1/files/$file/download" -H "$auth"
  run "$db list-first" "/api/v1/folders/$folder/items?limit=100" -H "$auth"
  run "$db list-deep" "/api/v1/folders/$folder/items?limit=100&cursor=$deep" -H "$auth"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  if grep -q "audit event dropped" "$WORK/cofferd-$db.log"; then
    echo "$db: $(grep -c "audit event dropped" "$WORK/cofferd-$db.log") audit events dropped" >&2
  fi
}

{
  echo -e "endpoint\trequests/s\tp99"
  bench sqlite "sqlite://$WORK/data/coffer.db?mode=rwc"
  if [ "${BENCH_SKIP_PG:-0}" != 1 ]; then
    PGDB="coffer_bench_$RANDOM"
    psql "$PG_URL" -qc "CREATE DATABASE $PGDB"
    PG_BENCH_URL=$(python3 -c "import sys,urllib.parse as u;p=u.urlparse(sys.argv[1]);print(p._replace(path='/$PGDB').geturl())" "$PG_URL")
    bench postgres "$PG_BENCH_URL"
    psql "$PG_URL" -qc "DROP DATABASE $PGDB WITH (FORCE)"
  fi
} | tee "$WORK/table.tsv"
python3 - "$WORK/table.tsv" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip() and not l.startswith("endpoint")]
base = {r[0].split()[0]: float(r[1]) for r in rows if r[0].endswith("healthz")}
print("\nendpoint\tratio to healthz (same database run)")
for name, rps, p99 in rows:
    db = name.split()[0]
    print(f"{name}\t{float(rps) / base[db]:.1%}\tp99 {p99}")
PY
