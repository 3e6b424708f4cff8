# Shared by the wrk benchmarks (sourced): JSON field access, result rows, one cofferd at a
# time, one recorded wrk run. The caller sets WORK (a scratch dir), RESULTS (a TSV file),
# CONNS and DURATION, and kills $PID on exit.

json() { python3 -c "import json,sys;print(json.load(sys.stdin)$1)"; }
record() { (IFS=$'\t'; echo "$*") >> "$RESULTS"; }

# start_cofferd binary data-dir database-url log [VAR=value...]: starts it in the
# background (PID, BASE) with limits out of the way and the extra settings given.
start_cofferd() {
  local bin=$1 data=$2 url=$3 log=$4 port; shift 4
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  mkdir -p "$data"
  env COFFER_DATA_DIR="$data" COFFER_PORT="$port" COFFER_EMBEDDED_S3_PORT=0 COFFER_LOG=warn DATABASE_URL="$url" \
    COFFER_RATE_LIMIT_USER_PER_MINUTE=100000000 COFFER_RATE_LIMIT_USER_BURST=100000000 \
    COFFER_DEFAULT_QUOTA_BYTES=1000000000000000 COFFER_DEFAULT_QUOTA_OBJECTS=1000000000 COFFER_DB_MAX_CONNECTIONS=16 \
    "$@" "$bin" > "$log" 2>&1 &
  PID=$!
  BASE="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do curl -fs "$BASE/healthz" >/dev/null && return; sleep 0.1; done
  echo "cofferd ($bin) did not become healthy; its log:" >&2; tail -n 30 "$log" >&2; exit 1
}

stop_cofferd() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# measure db what path [wrk args...]: one wrk run, recorded (db, what, req/s, p99). A wrk
# script gets "<what>-<random>" as its argument (a tag for fresh names).
measure() {
  local db=$1 what=$2 path=$3; shift 3
  wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$@" "$BASE$path" -- "$what-$RANDOM" > "$WORK/out.txt"
  if grep -q "Non-2xx" "$WORK/out.txt"; then echo "$db $what: non-2xx answers" >&2; cat "$WORK/out.txt" >&2; exit 1; fi
  if grep -q "Socket errors" "$WORK/out.txt"; then echo "$db $what: $(grep 'Socket errors' "$WORK/out.txt")" >&2; fi
  local rps p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/out.txt")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/out.txt")
  record "$db" "$what" "$rps" "$p99"
  printf '%-8s %-15s %12s req/s  p99 %s\n' "$db" "$what" "$rps" "$p99"
}
