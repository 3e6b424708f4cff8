#!/usr/bin/env bash
# Files benchmark (wrk, 32 connections, -t2): /healthz (twice, around the download),
# /metrics, POST /api/v1/uploads (single part, quota reserved), GET
# /api/v1/files/{id}/download, and listing a folder of 100,000 files
# (first page, and a cursor deep in the folder) -- on SQLite, then on PostgreSQL -- plus, in
# the same run, what the database alone does for an upload start:
#   - PostgreSQL: pgbench, 32 clients (-j 2, -M prepared, synchronous_commit=off), running
#     Coffer's one-statement reserve-and-insert (CREATE_RESERVED_PG in src/uploads/repo.rs as
#     of commit a42f019) for one user with a huge quota, on a scratch database migrated by the
#     new cofferd;
#   - SQLite: a single-thread Python loop (WAL, synchronous=NORMAL, foreign keys on) doing the
#     same transaction (INSERT files, INSERT uploads, UPDATE users if the quota fits) on a copy
#     of the new binary's benchmark database.
#
# Usage: tests/bench/files.sh [duration, default 10s]
#   e.g. BENCH_BIN=/tmp/cofferd-main tests/bench/files.sh 20s
#
# Environment:
#   BENCH_BIN      an older cofferd to compare with: each database is measured with it, then
#                  with BENCH_NEW, back to back, each on a fresh data dir / fresh database, and
#                  the table shows old and new side by side. Unset: only BENCH_NEW is measured.
#   BENCH_NEW      the cofferd under test (default ./target/release/cofferd; built with
#                  `cargo build --release --bin cofferd` only when BENCH_NEW is unset and that
#                  file is missing -- an existing release binary is used as it is).
#   BENCH_PG_URL   a PostgreSQL server URL (default
#                  postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); the scratch
#                  databases coffer_bench_* are created there and dropped.
#   BENCH_SKIP_PG  1: SQLite only (no PostgreSQL runs, no pgbench).
#   BENCH_SKIP_SQLITE  1: PostgreSQL only (no SQLite runs, no SQLite loop).
#
# Output: one line per measurement as it happens, then
#   - the comparison table: endpoint, old req/s, new req/s, new/old, old p99, new p99 (ms),
#     and per database the audit events each binary dropped (the largest of the
#     *audit*dropped* metric scraped before stopping cofferd and the number of
#     "audit event dropped" log lines);
#   - per binary, each endpoint as a ratio to /healthz on the same database run (the mean
#     of the /healthz runs just before and just after the download);
#   - the reference figures (pgbench tps, SQLite loop transactions/s) and upload start as a
#     percentage of them.
# Exits 1 if the new binary dropped audit events (the old one may).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-10s}"
CONNS=32
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
FILES=100000
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

NEW="${BENCH_NEW:-./target/release/cofferd}"
if [ -z "${BENCH_NEW:-}" ] && [ ! -e "$NEW" ]; then cargo build --release --bin cofferd -q; fi
OLD="${BENCH_BIN:-}"
for b in "$NEW" ${OLD:+"$OLD"}; do [ -x "$b" ] || { echo "no cofferd binary at $b" >&2; exit 1; }; done
NEW=$(realpath "$NEW")
if [ -n "$OLD" ]; then OLD=$(realpath "$OLD"); fi

WORK=$(mktemp -d)
RESULTS="$WORK/results.tsv" # db, binary, what, value[, p99]
PID=""
PGDBS="" # scratch databases to drop
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  for db in $PGDBS; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

json() { python3 -c "import json,sys;print(json.load(sys.stdin)$1)"; }
record() { (IFS=$'\t'; echo "$*") >> "$RESULTS"; }
# wrk's duration (10, 10s, 2m, 1h) in whole seconds, for pgbench and the SQLite loop.
seconds() { python3 -c 'import sys;s=sys.argv[1];m={"s":1,"m":60,"h":3600};print(max(1,round(float(s[:-1])*m[s[-1]] if s[-1] in m else float(s))))' "$1"; }
SECS=$(seconds "$DURATION")

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

# --- cofferd ---------------------------------------------------------------------------

# start_cofferd binary data-dir database-url log: starts it in the background (PID, BASE).
start_cofferd() {
  local bin=$1 data=$2 url=$3 log=$4 port
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  mkdir -p "$data"
  COFFER_DATA_DIR="$data" COFFER_PORT=$port COFFER_EMBEDDED_S3_PORT=0 COFFER_LOG=warn DATABASE_URL="$url" \
  COFFER_RATE_LIMIT_USER_PER_MINUTE=100000000 COFFER_RATE_LIMIT_USER_BURST=100000000 \
  COFFER_DEFAULT_QUOTA_BYTES=1000000000000000 COFFER_DEFAULT_QUOTA_OBJECTS=1000000000 COFFER_DB_MAX_CONNECTIONS=16 \
    "$bin" > "$log" 2>&1 &
  PID=$!
  BASE="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do curl -fs "$BASE/healthz" >/dev/null && return; sleep 0.1; done
  echo "cofferd ($bin) did not become healthy; its log:" >&2; tail -n 30 "$log" >&2; exit 1
}

stop_cofferd() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# Registers and logs in the user "bench" (TOKEN).
register() {
  curl -fs -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"benchmark passphrase 1"}' >/dev/null
  TOKEN=$(curl -fs -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"benchmark passphrase 1"}' | json '["access_token"]')
}

# Sum of the metrics whose name contains "audit" and "dropped", from a running cofferd
# (empty when /metrics does not exist or has no such metric).
scrape_audit_dropped() {
  curl -s "$BASE/metrics" | python3 -c '
import sys
vals = [float(l.split()[-1]) for l in sys.stdin
        if not l.startswith("#") and "audit" in l.split("{")[0].split(" ")[0] and "dropped" in l.split("{")[0].split(" ")[0]]
print(int(sum(vals)) if vals else "")' || true
}

# --- PostgreSQL scratch databases --------------------------------------------------------

# new_pgdb suffix: creates the database coffer_bench_<pid>_<suffix> (PGDB, its URL PGDB_URL).
new_pgdb() {
  PGDB="coffer_bench_$$_$1"
  psql "$PG_URL" -qc "CREATE DATABASE $PGDB"
  PGDBS="$PGDBS $PGDB"
  PGDB_URL=$(python3 -c "import sys,urllib.parse as u;p=u.urlparse(sys.argv[1]);print(p._replace(path='/$PGDB').geturl())" "$PG_URL")
}
drop_pgdb() { psql "$PG_URL" -qc "DROP DATABASE $1 WITH (FORCE)"; PGDBS=${PGDBS/ $1/}; }

# --- the wrk benchmark --------------------------------------------------------------------

# populate db-kind data-dir database-url folder-id: inserts $FILES file rows into the folder
# (ids random, timestamps copied from the folder row).
populate() {
  local kind=$1 data=$2 url=$3 folder=$4
  if [ "$kind" = sqlite ]; then
    python3 - "$data/coffer.db" "$folder" "$FILES" <<'PY'
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
    psql "$url" -qc "INSERT INTO files (id, owner_id, parent_id, parent_key, name, kind, size, content_type, object_key, state, tier, created_at, updated_at)
      SELECT gen_random_uuid(), f.owner_id, f.id, f.id, 'f' || lpad(i::text, 6, '0'), 'file', 1, 'application/octet-stream',
             'bench/' || i, 'active', 'primary', f.created_at, f.updated_at
      FROM generate_series(1, $FILES) i, files f WHERE f.id = '$folder'; ANALYZE files;"
  fi
}

# measure db label endpoint path [wrk args...]: one wrk run, recorded.
measure() {
  local db=$1 label=$2 what=$3 path=$4; shift 4
  wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$@" "$BASE$path" > "$WORK/out.txt"
  if grep -q "Non-2xx" "$WORK/out.txt"; then echo "$db $what ($label): non-2xx answers" >&2; cat "$WORK/out.txt" >&2; exit 1; fi
  if grep -q "Socket errors" "$WORK/out.txt"; then echo "$db $what ($label): $(grep 'Socket errors' "$WORK/out.txt")" >&2; fi
  local rps p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/out.txt")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/out.txt")
  record "$db" "$label" "$what" "$rps" "$p99"
  printf '%-8s %-4s %-14s %12s req/s  p99 %s\n' "$db" "$label" "$what" "$rps" "$p99"
}

# bench db-kind label binary database-url: a fresh cofferd on $WORK/data-<db>-<label>,
# the user, one downloadable file, the big folder, then every endpoint.
bench() {
  local db=$1 label=$2 bin=$3 url=$4
  local data="$WORK/data-$db-$label" log="$WORK/cofferd-$db-$label.log"
  if [ "$db" = sqlite ]; then url="sqlite://$data/coffer.db?mode=rwc"; fi
  rm -rf "$data"
  start_cofferd "$bin" "$data" "$url" "$log"
  register
  export TOKEN RUN=$RANDOM
  local auth="Authorization: Bearer $TOKEN"
  # One real file to download.
  local start file
  start=$(curl -fs -XPOST "$BASE/api/v1/uploads" -H "$auth" -H 'content-type: application/json' \
    -d '{"name":"payload.bin","size":4,"content_type":"application/octet-stream"}')
  curl -fs -XPUT "$(echo "$start" | json '["put"]["url"]')" -H 'content-type: application/octet-stream' --data-binary 'data' >/dev/null
  file=$(curl -fs -XPOST "$BASE/api/v1/uploads/$(echo "$start" | json '["upload_id"]')/complete" -H "$auth" | json '["id"]')
  # A folder of 100,000 files.
  local folder deep count
  folder=$(curl -fs -XPOST "$BASE/api/v1/folders" -H "$auth" -H 'content-type: application/json' -d '{"name":"big"}' | json '["id"]')
  populate "$db" "$data" "$url" "$folder"
  deep=$(python3 -c 'import base64,json;print(base64.urlsafe_b64encode(json.dumps({"k":"file","n":"f090000"}).encode()).decode().rstrip("="))')
  count=$(curl -fs "$BASE/api/v1/folders/$folder/items?limit=1000&cursor=$deep" -H "$auth" | json '["items"].__len__()')
  [ "$count" = 1000 ] || { echo "deep page has $count items" >&2; exit 1; }

  # /healthz is measured just before and just after the download, and the ratios to it
  # use the mean of the two: on this 2-core VM a single 10 s /healthz run varies by up
  # to 15% from one minute to the next, and bracketing cancels such drift. The download
  # goes before upload-start so that it does not run during the autovacuum of the
  # hundreds of thousands of rows upload-start leaves behind.
  measure "$db" "$label" healthz /healthz
  measure "$db" "$label" download "/api/v1/files/$file/download" -H "$auth"
  measure "$db" "$label" healthz-2 /healthz
  # A Prometheus scrape: counters from memory, task counts and quota totals from the database.
  # (skipped for builds from before /metrics existed)
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/metrics")" = 200 ]; then measure "$db" "$label" metrics /metrics; fi
  measure "$db" "$label" upload-start /api/v1/uploads -s "$WORK/start.lua"
  measure "$db" "$label" list-first "/api/v1/folders/$folder/items?limit=100" -H "$auth"
  measure "$db" "$label" list-deep "/api/v1/folders/$folder/items?limit=100&cursor=$deep" -H "$auth"

  local metric logged
  metric=$(scrape_audit_dropped)
  stop_cofferd
  logged=$(grep -c "audit event dropped" "$log" || true)
  local dropped=$(( ${metric:-0} > logged ? ${metric:-0} : logged ))
  record "$db" "$label" audit-dropped "$dropped"
  printf '%-8s %-4s audit events dropped: %s (metric: %s, log lines: %s)\n' "$db" "$label" "$dropped" "${metric:-none}" "$logged"
}

# --- references: the database alone -------------------------------------------------------

# sqlite_reference database: single-thread upload-start transactions on a copy of it.
sqlite_reference() {
  local tps
  tps=$(python3 - "$1" "$WORK/sqlite-ref.db" "$SECS" <<'PY'
import datetime, sqlite3, sys, time, uuid
src, dst, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s, d = sqlite3.connect(src), sqlite3.connect(dst)
s.backup(d); s.close(); d.close()
c = sqlite3.connect(dst, isolation_level=None)
for p in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
    c.execute("PRAGMA " + p)
(owner,) = c.execute("SELECT id FROM users WHERE username = 'bench'").fetchone()
prefix, ct = f"{uuid.UUID(bytes=owner)}/", "application/octet-stream"
n, t0 = 0, time.monotonic()
end = t0 + secs
while time.monotonic() < end:
    now = datetime.datetime.now(datetime.timezone.utc)
    ts, exp = now.isoformat(), (now + datetime.timedelta(days=1)).isoformat()
    fid, name = uuid.uuid4().bytes, f"ref-{n}"
    key = f"{prefix}{uuid.uuid4()}_{name}"
    # The app's order (src/uploads/repo.rs create_reserved): file, upload, quota row last.
    c.execute("BEGIN")
    c.execute("""INSERT INTO files (id, owner_id, parent_id, parent_key, name, kind, size, content_type,
                 object_key, etag, state, tier, created_at, updated_at, synced_at)
                 VALUES (?, ?, NULL, ?, ?, 'file', 1024, ?, ?, NULL, 'pending', 'primary', ?, ?, NULL)""",
              (fid, owner, owner, name, ct, key, ts, ts))
    c.execute("""INSERT INTO uploads (id, user_id, file_id, object_key, declared_size, content_type,
                 multipart_upload_id, part_size, part_count, expires_at, state, created_at, updated_at, created_by)
                 VALUES (?, ?, ?, ?, 1024, ?, NULL, NULL, 1, ?, 'open', ?, ?, NULL)""",
              (uuid.uuid4().bytes, owner, fid, key, ct, exp, ts, ts))
    cur = c.execute("""UPDATE users SET reserved_bytes = reserved_bytes + 1024, reserved_objects = reserved_objects + 1
                       WHERE id = ? AND used_bytes + reserved_bytes + 1024 <= quota_bytes
                         AND used_objects + reserved_objects + 1 <= quota_objects""", (owner,))
    if cur.rowcount != 1:
        sys.exit("SQLite reference: quota exceeded")
    c.execute("COMMIT")
    n += 1
print(f"{n / (time.monotonic() - t0):.2f}")
PY
)
  rm -f "$WORK"/sqlite-ref.db*
  record sqlite ref sqlite-loop "$tps"
  printf '%-8s ref  python sqlite3 loop, 1 thread: %s transactions/s\n' sqlite "$tps"
}

# The CREATE_RESERVED_PG statement (src/uploads/repo.rs at a42f019) with its parameters filled in: 1024 bytes at the user's
# root, fresh ids (gen_random_uuid()), one timestamp (now()), a unique name per transaction.
write_pgbench_script() {
  local name="'bench-' || :client_id::text || '-' || :n::text"
  local key=":uid::text || '/' || :client_id::text || '-' || :n::text || '_bench'"
  cat > "$WORK/reserve.sql" <<SQL
\set n random(1, 9000000000000000000)
WITH q AS (
    UPDATE users
    SET reserved_bytes = reserved_bytes + 1024, reserved_objects = reserved_objects + 1
    WHERE id = :uid::uuid
      AND used_bytes + reserved_bytes + 1024 <= quota_bytes
      AND used_objects + reserved_objects + 1 <= quota_objects
    RETURNING id
), f AS (
    INSERT INTO files (id, owner_id, parent_id, parent_key, name, kind, size, content_type,
                       object_key, etag, state, tier, created_at, updated_at, synced_at)
    SELECT gen_random_uuid(), :uid::uuid, NULL::uuid, :uid::uuid, $name, 'file', 1024, 'application/octet-stream',
           $key, NULL, 'pending', 'primary', now(), now(), NULL FROM q
    RETURNING id
)
INSERT INTO uploads (id, user_id, file_id, object_key, declared_size, content_type,
                     multipart_upload_id, part_size, part_count, expires_at, state,
                     created_at, updated_at, created_by)
SELECT gen_random_uuid(), :uid::uuid, f.id, $key, 1024, 'application/octet-stream',
       NULL, NULL::bigint, 1, now() + interval '1 day', 'open', now(), now(), NULL::uuid FROM f;
SQL
}

# pgbench on a scratch database that the new cofferd migrated and registered "bench" in.
pg_reference() {
  local pgbench url uid processed rows tps
  pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)
  [ -n "$pgbench" ] || { echo "pgbench not found" >&2; exit 1; }
  new_pgdb ref
  url=$PGDB_URL
  start_cofferd "$NEW" "$WORK/data-pgref" "$url" "$WORK/cofferd-pgref.log"
  register
  stop_cofferd
  uid=$(psql "$url" -Atc "SELECT id FROM users WHERE username = 'bench'")
  write_pgbench_script
  if ! PGOPTIONS='-c synchronous_commit=off' "$pgbench" -n -M prepared -c "$CONNS" -j 2 -T "$SECS" \
      -D uid="$uid" -f "$WORK/reserve.sql" "$url" > "$WORK/pgbench.txt" 2>&1; then
    echo "pgbench failed:" >&2; cat "$WORK/pgbench.txt" >&2; exit 1
  fi
  tps=$(awk '/^tps = / {print $3}' "$WORK/pgbench.txt")
  # Every transaction must have reserved and inserted (a quota miss would be a cheap no-op).
  processed=$(awk -F': *' '/number of transactions actually processed/ {print $2}' "$WORK/pgbench.txt")
  rows=$(psql "$url" -Atc "SELECT count(*) FROM uploads")
  [ "$rows" = "$processed" ] || { echo "pgbench: $processed transactions but $rows uploads" >&2; cat "$WORK/pgbench.txt" >&2; exit 1; }
  drop_pgdb "$PGDB"
  record postgres ref pgbench "$tps"
  printf '%-8s ref  pgbench -c %s -j 2 reserve-and-insert: %s tps (%s transactions)\n' postgres "$CONNS" "$tps" "$processed"
}

# --- the report ---------------------------------------------------------------------------

report() {
  python3 - "$RESULTS" "$([ -n "$OLD" ] && echo 1 || echo 0)" <<'PY'
import sys
paired = sys.argv[2] == "1"
labels = ["old", "new"] if paired else ["new"]
rows, dropped, refs, order = {}, {}, {}, []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    db, label, what = f[0], f[1], f[2]
    if label == "ref":
        refs[db] = float(f[3])
    elif what == "audit-dropped":
        dropped[(db, label)] = int(f[3])
    else:
        rows[(db, what, label)] = (float(f[3]), f[4])
        if (db, what) not in order:
            order.append((db, what))

ENDPOINTS = ["healthz", "healthz-2", "metrics", "upload-start", "download", "list-first", "list-deep"]
dbs = list(dict.fromkeys(db for db, _ in order))
order.sort(key=lambda k: (dbs.index(k[0]), ENDPOINTS.index(k[1]) if k[1] in ENDPOINTS else len(ENDPOINTS)))

def ms(p99):  # wrk prints us, ms, s, m, h
    for unit, k in (("us", 0.001), ("ms", 1), ("s", 1000), ("m", 60000), ("h", 3600000)):
        if p99.endswith(unit):
            return float(p99[: -len(unit)]) * k
    return float(p99)

def cell(key, i):
    v = rows.get(key)
    if v is None:
        return "-"
    return f"{v[0]:.0f}" if i == 0 else f"{ms(v[1]):.2f}"

print()
if paired:
    print(f"{'endpoint':<22}{'old req/s':>11}{'new req/s':>11}{'new/old':>9}{'old p99 ms':>12}{'new p99 ms':>12}")
else:
    print(f"{'endpoint':<22}{'new req/s':>11}{'new p99 ms':>12}")
for db, what in order:
    o, n = (db, what, "old"), (db, what, "new")
    if paired:
        ratio = f"{rows[n][0] / rows[o][0]:.2f}" if o in rows and n in rows else "-"
        print(f"{db + ' ' + what:<22}{cell(o, 0):>11}{cell(n, 0):>11}{ratio:>9}{cell(o, 1):>12}{cell(n, 1):>12}")
    else:
        print(f"{db + ' ' + what:<22}{cell(n, 0):>11}{cell(n, 1):>12}")
for db in dbs:
    counts = "".join(f"{dropped.get((db, l), '-'):>11}" for l in labels)
    print(f"{db + ' audit dropped':<22}{counts}   (events, not req/s)")

for label in labels:
    print(f"\n{label} binary: ratio to /healthz (same database run; the mean of the two /healthz runs)")
    print(f"{'endpoint':<22}{'ratio':>8}{'p99 ms':>10}")
    for db, what in order:
        k = (db, what, label)
        if k in rows and not what.startswith("healthz"):
            runs = [rows[(db, h, label)][0] for h in ("healthz", "healthz-2") if (db, h, label) in rows]
            base = sum(runs) / len(runs)
            print(f"{db + ' ' + what:<22}{rows[k][0] / base:>8.1%}{ms(rows[k][1]):>10.2f}")

if refs:
    print("\nreferences: the database alone doing an upload start")
    names = {"postgres": "pgbench tps (32 clients)", "sqlite": "Python sqlite3 loop tx/s (1 thread)"}
    for db, tps in refs.items():
        share = "  ".join(f"{l} POST /uploads {rows[(db, 'upload-start', l)][0] / tps:.1%}"
                          for l in labels if (db, "upload-start", l) in rows)
        print(f"{db:<9}{names[db]:<37}{tps:>10.0f}   {share}")

bad = [db for (db, l), n in dropped.items() if l == "new" and n > 0]
if bad:
    print(f"\nFAIL: the new binary dropped audit events on {', '.join(bad)}")
    sys.exit(1)
PY
}

# --- main ---------------------------------------------------------------------------------

LABELS="new"
if [ -n "$OLD" ]; then LABELS="old new"; fi
binary() { if [ "$1" = old ]; then echo "$OLD"; else echo "$NEW"; fi; }
for label in $LABELS; do
  echo "$label: $(binary "$label") ($(date -r "$(binary "$label")" '+%F %T'))"
done
echo "duration $DURATION, $CONNS connections"

if [ "${BENCH_SKIP_SQLITE:-0}" != 1 ]; then
  for label in $LABELS; do bench sqlite "$label" "$(binary "$label")" ""; done
  sqlite_reference "$WORK/data-sqlite-new/coffer.db"
  rm -rf "$WORK"/data-sqlite-*
fi
if [ "${BENCH_SKIP_PG:-0}" != 1 ]; then
  for label in $LABELS; do
    new_pgdb "$label"
    bench postgres "$label" "$(binary "$label")" "$PGDB_URL"
    drop_pgdb "$PGDB"
    rm -rf "$WORK/data-postgres-$label"
  done
  pg_reference
fi
report
