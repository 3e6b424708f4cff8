#!/usr/bin/env bash
# Chaos harness for the quota/usage ledger (see tests/chaos/chaos.py for what it checks).
#   tests/chaos/run.sh sqlite [ROUNDS]     one cofferd, SQLite, embedded S3, in-process worker
#   tests/chaos/run.sh postgres [ROUNDS]   two cofferd + two coffer-worker, PostgreSQL, Garage
# Without ROUNDS, a CI-sized run (2-3 minutes per mode); e.g. 200 for a long run.
# Options after ROUNDS go to chaos.py: --keep-going, --ops N, --seed N.
# COFFER_BIN_DIR picks the binaries (default target/debug). Exit status 0 only when
# every invariant held in every round (1: an invariant broke; 2: the harness failed).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin_dir="$(realpath -m "${COFFER_BIN_DIR:-$root/target/debug}")"
cd "$root"

mode="${1:-}"
case "$mode" in
  sqlite | postgres) ;;
  *) echo "usage: tests/chaos/run.sh sqlite|postgres [ROUNDS] [--keep-going] [--ops N] [--seed N]" >&2; exit 2 ;;
esac
for bin in cofferd coffer-worker; do
  [ -x "$bin_dir/$bin" ] || { echo "$bin_dir/$bin is missing: build it first" >&2; exit 2; }
done
export COFFER_BIN_DIR="$bin_dir" PYTHONDONTWRITEBYTECODE=1

if [ "$mode" = postgres ]; then
  pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 2; }
  # shellcheck source=../../.ci/garage.sh
  source .ci/garage.sh start
  trap garage_stop EXIT
fi
python3 tests/chaos/chaos.py "$@"
