#!/usr/bin/env bash
# Benchmark: zip bundles on Garage. Uploads SIZE spread over 20 objects, builds one zip of
# them with coffer-worker, and copies the same objects to another bucket with rclone
# (download + upload, no server-side copy) in the same run. Reports both throughputs,
# their ratio and the worker's peak RSS; runs at 200 MiB and at 2 GiB so the RSS can be
# compared across sizes.
# Usage: tests/bench/zip.sh [MiB per object for the large run, default 102 (20 x 102 MiB ~ 2 GiB)]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIG_MIB="${1:-102}"
command -v rclone >/dev/null || { apt-get update -qq && apt-get install -y -qq rclone; }
cargo build --release --bins -q
source .ci/garage.sh start >/dev/null
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; garage_stop; rm -rf "$WORK"; }
trap cleanup EXIT
G=("$GARAGE_BIN" -c "$GARAGE_DIR/garage.toml")
"${G[@]}" bucket create coffer-copy >/dev/null
"${G[@]}" bucket allow --read --write --owner coffer-copy --key coffer-test >/dev/null

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
export COFFER_DATA_DIR="$WORK/data" COFFER_PORT=$PORT COFFER_LOG=warn COFFER_WORKER_IN_PROCESS=false \
  COFFER_S3_ENDPOINT="$COFFER_TEST_S3_ENDPOINT" COFFER_S3_REGION=garage COFFER_S3_BUCKET=coffer-test \
  COFFER_S3_ACCESS_KEY="$COFFER_TEST_S3_ACCESS_KEY" COFFER_S3_SECRET_KEY="$COFFER_TEST_S3_SECRET_KEY" \
  COFFER_DEFAULT_QUOTA_BYTES=100000000000 COFFER_WORKER_POLL_MS=50
./target/release/cofferd > "$WORK/cofferd.log" 2>&1 &
PIDS+=($!)
BASE="http://127.0.0.1:$PORT/api/v1"
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
field() { grep -o "\"$1\":\"[^\"]*\"" | head -n1 | cut -d'"' -f4; }
curl -fs -XPOST "$BASE/auth/register" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"benchmark passphrase 1"}' >/dev/null
login() { curl -fs -XPOST "$BASE/auth/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"benchmark passphrase 1"}' | field access_token; }
USER_ID=$(curl -fs "$BASE/auth/me" -H "Authorization: Bearer $(login)" | field id)

export RCLONE_CONFIG_G_TYPE=s3 RCLONE_CONFIG_G_PROVIDER=Other RCLONE_CONFIG_G_ENDPOINT="$COFFER_TEST_S3_ENDPOINT" \
  RCLONE_CONFIG_G_ACCESS_KEY_ID="$COFFER_TEST_S3_ACCESS_KEY" RCLONE_CONFIG_G_SECRET_ACCESS_KEY="$COFFER_TEST_S3_SECRET_KEY" \
  RCLONE_CONFIG_G_REGION=garage RCLONE_CONFIG_G_FORCE_PATH_STYLE=true

run() { # label, MiB per object
  local label=$1 mib=$2 token ids=() folder
  token=$(login)
  local auth="Authorization: Bearer $token"
  folder=$(curl -fs -XPOST "$BASE/folders" -H "$auth" -H 'content-type: application/json' -d "{\"name\":\"$label\"}" | field id)
  head -c $((mib * 1048576)) /dev/urandom > "$WORK/obj.bin"
  for i in $(seq 1 20); do
    local start
    start=$(curl -fs -XPOST "$BASE/uploads" -H "$auth" -H 'content-type: application/json' \
      -d "{\"name\":\"o$i.bin\",\"size\":$((mib * 1048576)),\"parent_id\":\"$folder\"}")
    if echo "$start" | grep -q '"mode":"multipart"'; then
      local up parts
      up=$(echo "$start" | field upload_id)
      parts=$(echo "$start" | grep -o '"part_count":[0-9]*' | cut -d: -f2)
      local psize
      psize=$(echo "$start" | grep -o '"part_size":[0-9]*' | cut -d: -f2)
      rm -f "$WORK"/part.*; split -b "$psize" -d -a 5 "$WORK/obj.bin" "$WORK/part."
      curl -fs -XPOST "$BASE/uploads/$up/parts" -H "$auth" -H 'content-type: application/json' \
        -d "{\"part_numbers\":[$(seq -s, 1 "$parts")]}" | grep -o '"url":"[^"]*"' | cut -d'"' -f4 > "$WORK/urls"
      local n=0
      while read -r url; do curl -fs -XPUT "$url" --data-binary @"$WORK/part.$(printf %05d $n)" >/dev/null; n=$((n+1)); done < "$WORK/urls"
      curl -fs -XPOST "$BASE/uploads/$up/complete" -H "$auth" >/dev/null
    else
      curl -fs -XPUT "$(echo "$start" | field url)" -H 'content-type: application/octet-stream' --data-binary @"$WORK/obj.bin" >/dev/null
      curl -fs -XPOST "$BASE/uploads/$(echo "$start" | field upload_id)/complete" -H "$auth" >/dev/null
    fi
  done
  local bytes=$((20 * mib * 1048576))
  # The zip, by a separate coffer-worker process whose peak RSS we read.
  local task t0 t1
  task=$(curl -fs -XPOST "$BASE/archives" -H "$auth" -H 'content-type: application/json' -d "{\"ids\":[\"$folder\"]}" | field task_id)
  t0=$(date +%s.%N)
  ./target/release/coffer-worker > "$WORK/worker-$label.log" 2>&1 &
  local wpid=$!
  PIDS+=($wpid)
  local hwm=0
  while true; do
    local h
    h=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status" 2>/dev/null || echo 0)
    [ "${h:-0}" -gt "$hwm" ] && hwm=$h
    local state
    state=$(curl -fs "$BASE/tasks/$task" -H "$auth" | grep -o '"state":"[a-z]*"' | cut -d'"' -f4)
    [ "$state" = done ] && break
    [ "$state" = failed ] && { echo "zip failed" >&2; cat "$WORK/worker-$label.log" >&2; exit 1; }
    sleep 0.2
  done
  t1=$(date +%s.%N)
  h=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status"); [ "$h" -gt "$hwm" ] && hwm=$h
  kill "$wpid"; wait "$wpid" 2>/dev/null || true
  # The same objects copied through rclone (no server-side copy).
  local c0 c1
  c0=$(date +%s.%N)
  env -u AWS_CA_BUNDLE rclone copy --s3-no-check-bucket --disable Copy "G:coffer-test/$USER_ID/" "G:coffer-copy/$label/" \
    --include "*_o*.bin" 2>"$WORK/rclone.log" || { cat "$WORK/rclone.log" >&2; exit 1; }
  c1=$(date +%s.%N)
  python3 - "$label" "$bytes" "$t0" "$t1" "$c0" "$c1" "$hwm" <<'PY'
import sys
label, n, t0, t1, c0, c1, hwm = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:7]), int(sys.argv[7])
z, c = n / (t1 - t0) / 2**20, n / (c1 - c0) / 2**20
print(f"{label}: {n / 2**20:.0f} MiB in 20 objects | zip {z:.1f} MiB/s | rclone copy {c:.1f} MiB/s | "
      f"zip/copy {z / c:.0%} | worker peak RSS {hwm / 1024:.1f} MiB")
PY
}

run small 10
run large "$BIG_MIB"
