#!/usr/bin/env bash
# Benchmark: the `coffer` command-line client pushing to Garage (one run), against rclone
# writing the same data straight to the same Garage (another bucket, coffer-copy) with the
# same parallelism, and, for the many small files, against a naive client: Python's
# standard library only, per file POST /api/v1/uploads, PUT to the presigned URL, POST
# .../complete, 4 files at a time (new connections every request).
#
# Data sets (random bytes, created once under a scratch dir, read from the page cache by
# every tool alike):
#   big    one file of CLI_BIG_MIB MiB (default 2048: 2 GiB; Coffer cuts it into 5 MiB
#          parts, so rclone gets --s3-chunk-size 5M)
#   small  CLI_SMALL_COUNT files (default 2000) of CLI_SMALL_KIB KiB (default 64) in one folder,
#          pushed CLI_SMALL_ROUNDS times (default 3) by each tool in turn (coffer, rclone,
#          naive, coffer, ...), each time into a new folder; a tool's time is the median
#          of its rounds (a push of small files takes 2-5 s here and one run varies by
#          10%, and whoever goes first would otherwise always meet a colder store)
#
# Each tool is timed by wall clock, and its peak RSS read with GNU time (%M):
#   coffer  --progress plain -q push --jobs J --part-jobs P <local> /bench-<set>-1
#   rclone  copy --transfers J --checkers J --s3-upload-concurrency P --s3-chunk-size 5M
#           (rclone's defaults otherwise, e.g. it reads a multipart file once for its MD5
#           first; Coffer hashes too: SHA-256 of the file, MD5 of each part)
#   naive   small set only (the small-files baseline)
#
# Targets (throughput = bytes / wall seconds):
#   big:    coffer >= 0.9 x rclone
#   small:  coffer >= 0.8 x rclone and >= 3 x naive
#   coffer's peak RSS < 100 MiB on both data sets
# Reported (met / NOT met), not enforced unless CLI_ENFORCE=1. Correctness is checked
# cheaply at the end (entry counts through `coffer ls` and `rclone lsf`); a wrong count
# always fails the run.
#
# Usage: tests/bench/cli.sh
#   e.g. BENCH_NEW=/tmp/coffer-bins CLI_JOBS=16 tests/bench/cli.sh
#
# Environment:
#   BENCH_NEW        a directory holding already-built cofferd and coffer (default: build
#                    them with cargo build --release --bins and use target/release)
#   CLI_JOBS         files at once: coffer --jobs, rclone --transfers/--checkers (default 8)
#   CLI_PART_JOBS    parts of one file at once: coffer --part-jobs, rclone
#                    --s3-upload-concurrency (default 6)
#   CLI_BIG_MIB, CLI_SMALL_COUNT, CLI_SMALL_KIB   the data sets' sizes (2048, 2000, 64)
#   CLI_SMALL_ROUNDS the small set's rounds per tool (3)
#   CLI_RESULTS      a TSV file the measurements (every round) are also appended to (date,
#                    commit, data set, tool, bytes, seconds, peak RSS KiB, jobs, part jobs)
#   CLI_ENFORCE      1: exit 1 when a target is missed
#
# Output: one line per measurement as it happens, then a markdown table (data set, tool,
# seconds (the median of the rounds), MiB/s, the highest peak RSS MiB) and one of the
# ratios against the targets.
set -euo pipefail
cd "$(dirname "$0")/../.."

JOBS="${CLI_JOBS:-8}"
PART_JOBS="${CLI_PART_JOBS:-6}"
BIG_MIB="${CLI_BIG_MIB:-2048}"
SMALL_COUNT="${CLI_SMALL_COUNT:-2000}"
SMALL_KIB="${CLI_SMALL_KIB:-64}"
SMALL_ROUNDS="${CLI_SMALL_ROUNDS:-3}"
PASSWORD="benchmark passphrase 1"

missing=()
command -v rclone >/dev/null || missing+=(rclone)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${missing[@]}"; fi

if [ -n "${BENCH_NEW:-}" ]; then
  BIN=$(realpath "$BENCH_NEW")
else
  cargo build --release --bins -q
  BIN="$PWD/target/release"
fi
COFFERD="$BIN/cofferd"
COFFER="$BIN/coffer"
for b in "$COFFERD" "$COFFER"; do
  [ -x "$b" ] || { echo "no binary at $b (set BENCH_NEW to a directory with cofferd and coffer)" >&2; exit 1; }
done

WORK=$(mktemp -d)
RESULTS="$WORK/results.tsv" # data set, tool, bytes, seconds, peak RSS KiB
PID=""
cleanup() {
  local rc=$?
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ] && [ -s "$WORK/cofferd.log" ]; then
    echo "cofferd's log (last 30 lines):" >&2; tail -n 30 "$WORK/cofferd.log" >&2
  fi
  if declare -F garage_stop >/dev/null; then garage_stop; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh
# shellcheck source=.ci/garage.sh
source .ci/garage.sh start >/dev/null
G=("$GARAGE_BIN" -c "$GARAGE_DIR/garage.toml")
"${G[@]}" bucket create coffer-copy >/dev/null
"${G[@]}" bucket allow --read --write --owner coffer-copy --key coffer-test >/dev/null

start_cofferd "$COFFERD" "$WORK/data" "sqlite://$WORK/data/coffer.db?mode=rwc" "$WORK/cofferd.log" \
  COFFER_WORKER_IN_PROCESS=false \
  COFFER_S3_ENDPOINT="$COFFER_TEST_S3_ENDPOINT" COFFER_S3_REGION=garage COFFER_S3_BUCKET=coffer-test \
  COFFER_S3_ACCESS_KEY="$COFFER_TEST_S3_ACCESS_KEY" COFFER_S3_SECRET_KEY="$COFFER_TEST_S3_SECRET_KEY" \
  COFFER_DEFAULT_QUOTA_BYTES=100000000000 COFFER_MAX_UPLOAD_BYTES=68719476736
API="$BASE/api/v1"
curl -fs -XPOST "$API/auth/register" -H 'content-type: application/json' \
  -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" >/dev/null
access_token() {
  curl -fs -XPOST "$API/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" | json '["access_token"]'
}

# The client: its own config and state (login, push journals), this server, no token.
mkdir -p "$WORK/xdg-config" "$WORK/xdg-state"
export XDG_CONFIG_HOME="$WORK/xdg-config" XDG_STATE_HOME="$WORK/xdg-state" COFFER_SERVER="$BASE"
unset COFFER_TOKEN
printf '%s\n' "$PASSWORD" | "$COFFER" login --password --username bench

export RCLONE_CONFIG_G_TYPE=s3 RCLONE_CONFIG_G_PROVIDER=Other RCLONE_CONFIG_G_ENDPOINT="$COFFER_TEST_S3_ENDPOINT" \
  RCLONE_CONFIG_G_ACCESS_KEY_ID="$COFFER_TEST_S3_ACCESS_KEY" RCLONE_CONFIG_G_SECRET_ACCESS_KEY="$COFFER_TEST_S3_SECRET_KEY" \
  RCLONE_CONFIG_G_REGION=garage RCLONE_CONFIG_G_FORCE_PATH_STYLE=true
RCLONE_COPY=(env -u AWS_CA_BUNDLE rclone copy --s3-no-check-bucket --transfers "$JOBS" --checkers "$JOBS"
  --s3-upload-concurrency "$PART_JOBS" --s3-chunk-size 5M)

# The naive client: argv api-base folder-name local-dir, the access token in NAIVE_TOKEN.
cat > "$WORK/naive.py" <<'PY'
import json, os, sys, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

api, folder_name, src = sys.argv[1:4]
auth = {"Authorization": "Bearer " + os.environ["NAIVE_TOKEN"]}
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def send(req):
    try:
        with opener.open(req) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{req.get_method()} {req.full_url.split('?')[0]}: {e.code} {e.read()[:300]!r}")
    return json.loads(body) if body else None

def call(path, body=None):
    headers = dict(auth)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    return send(urllib.request.Request(api + path, data=data, method="POST", headers=headers))

def upload(name):
    with open(os.path.join(src, name), "rb") as f:
        data = f.read()
    start = call("/uploads", {"name": name, "parent_id": folder, "size": len(data)})
    put = start["put"]
    send(urllib.request.Request(put["url"], data=data, method="PUT", headers=put["headers"]))
    call(f"/uploads/{start['upload_id']}/complete")

try:
    folder = call("/folders", {"name": folder_name})["id"]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(upload, sorted(os.listdir(src))))
except Exception as e:
    sys.exit(f"naive client: {e}")
PY

# measure data-set tool bytes command...: wall seconds (date) and peak RSS (GNU time).
# CPU seconds (user + system) a process has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
measure() {
  local set=$1 tool=$2 bytes=$3 t0 t1 secs rss d0 d1 g0 g1; shift 3
  sync
  d0=$(cpu_of "$PID"); g0=$(cpu_of "$GARAGE_PID")
  t0=$(date +%s.%N)
  if ! /usr/bin/time -f '%U %S %M' -o "$WORK/rss" "$@" > "$WORK/$set-$tool.log" 2>&1; then
    echo "$set $tool failed:" >&2; tail -n 30 "$WORK/$set-$tool.log" >&2; exit 1
  fi
  t1=$(date +%s.%N)
  d1=$(cpu_of "$PID"); g1=$(cpu_of "$GARAGE_PID")
  read -r user sys rss < <(tail -n 1 "$WORK/rss")
  # Where the CPU went: the tool itself, cofferd, Garage.
  python3 -c "import sys;u,s,d0,d1,g0,g1=map(float,sys.argv[1:]);print(f'       cpu s: tool {u+s:.2f}, cofferd {d1-d0:.2f}, garage {g1-g0:.2f}')" \
    "$user" "$sys" "$d0" "$d1" "$g0" "$g1"
  secs=$(python3 -c "import sys;print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$t0" "$t1")
  record "$set" "$tool" "$bytes" "$secs" "$rss"
  python3 -c "import sys;b,s,r=int(sys.argv[3]),float(sys.argv[4]),int(sys.argv[5]);print(f'{sys.argv[1]:<6} {sys.argv[2]:<7} {s:9.2f} s {b/s/2**20:9.1f} MiB/s  peak RSS {r/1024:7.1f} MiB')" \
    "$set" "$tool" "$bytes" "$secs" "$rss"
}

DATA="$WORK/sets"
mkdir -p "$DATA/small"
BIG_BYTES=$((BIG_MIB * 1048576))
SMALL_BYTES=$((SMALL_COUNT * SMALL_KIB * 1024))
echo "creating the data sets: 1 x $BIG_MIB MiB, $SMALL_COUNT x $SMALL_KIB KiB"
head -c "$BIG_BYTES" /dev/urandom > "$DATA/big.bin"
head -c "$SMALL_BYTES" /dev/urandom | split -b $((SMALL_KIB * 1024)) -a 6 -d --additional-suffix=.bin - "$DATA/small/f"

echo "coffer $("$COFFER" --version | awk '{print $NF}') | $(rclone version | head -n1) | $(nproc) CPUs | jobs $JOBS, part jobs $PART_JOBS"
measure big coffer "$BIG_BYTES" "$COFFER" --progress plain -q push --jobs "$JOBS" --part-jobs "$PART_JOBS" "$DATA/big.bin" /bench-big-1
measure big rclone "$BIG_BYTES" "${RCLONE_COPY[@]}" "$DATA/big.bin" G:coffer-copy/big-1
for r in $(seq "$SMALL_ROUNDS"); do
  measure small coffer "$SMALL_BYTES" "$COFFER" --progress plain -q push --jobs "$JOBS" --part-jobs "$PART_JOBS" "$DATA/small" "/bench-small-$r"
  measure small rclone "$SMALL_BYTES" "${RCLONE_COPY[@]}" "$DATA/small" "G:coffer-copy/small-$r"
  NAIVE_TOKEN=$(access_token) # lives 5 minutes: enough for one round
  export NAIVE_TOKEN
  measure small naive "$SMALL_BYTES" python3 "$WORK/naive.py" "$API" "naive-small-$r" "$DATA/small"
done

# Correctness, cheaply: everything is there (and nothing is left pending).
check() { # what, got, expected
  [ "$2" = "$3" ] || { echo "check failed: $1: $2, expected $3" >&2; exit 1; }
}
for r in $(seq "$SMALL_ROUNDS"); do
  check "coffer ls /bench-small-$r/small (entries)" "$("$COFFER" ls "/bench-small-$r/small" | wc -l)" "$SMALL_COUNT"
  check "coffer ls -l /bench-small-$r/small (pending)" "$("$COFFER" ls -l "/bench-small-$r/small" | grep -c pending || true)" 0
  check "coffer ls /naive-small-$r (entries)" "$("$COFFER" ls "/naive-small-$r" | wc -l)" "$SMALL_COUNT"
  check "rclone lsf coffer-copy/small-$r (entries)" "$(env -u AWS_CA_BUNDLE rclone lsf "G:coffer-copy/small-$r" | wc -l)" "$SMALL_COUNT"
done
check "coffer ls /bench-big-1 (entries)" "$("$COFFER" ls /bench-big-1)" "big.bin"
check "coffer ls -l /bench-big-1 (pending)" "$("$COFFER" ls -l /bench-big-1 | grep -c pending || true)" 0
echo "checked: every file is there"

if [ -n "${CLI_RESULTS:-}" ]; then
  when=$(date -u +%FT%TZ)
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit-dirty"
  while IFS=$'\t' read -r set tool bytes secs rss; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$when" "$commit" "$set" "$tool" "$bytes" "$secs" "$rss" "$JOBS" "$PART_JOBS"
  done < "$RESULTS" >> "$CLI_RESULTS"
fi

python3 - "$RESULTS" "$BIG_MIB" "$SMALL_COUNT" "$SMALL_KIB" "$JOBS" "$PART_JOBS" "${CLI_ENFORCE:-0}" <<'PY'
import sys
path, big_mib, count, kib, jobs, part_jobs, enforce = sys.argv[1:8]
import statistics
runs = {}
for line in open(path):
    s, tool, b, secs, rss = line.rstrip("\n").split("\t")
    runs.setdefault((s, tool), []).append((int(b), float(secs), int(rss)))
# Per data set and tool: the median time of its rounds, the highest peak RSS.
rows = {
    k: (v[0][0], statistics.median(r[1] for r in v), max(r[2] for r in v))
    for k, v in runs.items()
}
names = {"big": f"big (1 x {big_mib} MiB)", "small": f"small ({count} x {kib} KiB)"}
mibs = lambda k: rows[k][0] / rows[k][1] / 2**20
print(f"\njobs {jobs}, part jobs {part_jobs}; small: median of {len(runs[('small', 'coffer')])} rounds "
      + ", ".join(f"({t}: " + " ".join(f"{r[1]:.2f}" for r in runs[("small", t)]) + " s)" for t in ("coffer", "rclone", "naive"))
      + "\n")
print("| data set | tool | seconds | MiB/s | peak RSS MiB |")
print("|---|---|---:|---:|---:|")
for k, (b, secs, rss) in rows.items():
    print(f"| {names[k[0]]} | {k[1]} | {secs:.2f} | {mibs(k):.1f} | {rss / 1024:.1f} |")
checks = [
    ("big: coffer / rclone throughput", mibs(("big", "coffer")) / mibs(("big", "rclone")), 0.9, ">="),
    ("small: coffer / rclone throughput", mibs(("small", "coffer")) / mibs(("small", "rclone")), 0.8, ">="),
    ("small: coffer / naive throughput", mibs(("small", "coffer")) / mibs(("small", "naive")), 3.0, ">="),
    ("big: coffer peak RSS (MiB)", rows[("big", "coffer")][2] / 1024, 100, "<"),
    ("small: coffer peak RSS (MiB)", rows[("small", "coffer")][2] / 1024, 100, "<"),
]
print("\n| measure | value | target | |")
print("|---|---:|---:|---|")
missed = 0
for what, value, target, op in checks:
    ok = value >= target if op == ">=" else value < target
    missed += not ok
    fmt = f"{value:.1f}" if "RSS" in what else f"{value:.2f}x"
    tgt = f"{op} {target:g}" + ("" if "RSS" in what else "x")
    print(f"| {what} | {fmt} | {tgt} | {'met' if ok else 'NOT met'} |")
if missed and enforce == "1":
    sys.exit(f"{missed} target(s) missed")
PY
