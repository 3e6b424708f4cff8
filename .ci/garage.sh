#!/usr/bin/env bash
# Garage for the test suite: installed once into a cache that later runs reuse, then a
# single node bootstrapped on loopback with a fixed key and bucket (region "garage").
#   source .ci/garage.sh install   # just make sure the binary is there
#   source .ci/garage.sh start     # install if needed, start, export COFFER_TEST_S3_* variables
set -euo pipefail

GARAGE_VERSION="${GARAGE_VERSION:-2.5.0}"
TOOLS="${COFFER_TOOLS_DIR:-$HOME/.cache/coffer-tools}"
GARAGE_BIN="$TOOLS/garage-$GARAGE_VERSION/bin/garage"

garage_install() {
  if [ -x "$GARAGE_BIN" ]; then return 0; fi
  echo "== installing garage $GARAGE_VERSION into $TOOLS (once; later runs reuse it)"
  mkdir -p "$TOOLS"
  cargo install garage --version "$GARAGE_VERSION" --locked --root "$TOOLS/garage-$GARAGE_VERSION"
}

garage_start() {
  garage_install
  local dir rpc_port s3_port admin_port
  dir=$(mktemp -d /tmp/coffer-garage.XXXXXX)
  read -r rpc_port s3_port admin_port < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
  cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(python3 -c 'import secrets;print(secrets.token_hex(32))')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
TOML
  chmod 600 "$dir/garage.toml"
  "$GARAGE_BIN" -c "$dir/garage.toml" server > "$dir/garage.log" 2>&1 &
  GARAGE_PID=$!
  local g=("$GARAGE_BIN" -c "$dir/garage.toml")
  local node=""
  for _ in $(seq 1 100); do
    node=$("${g[@]}" node id -q 2>/dev/null | cut -d@ -f1) && [ -n "$node" ] && break
    sleep 0.1
  done
  [ -n "$node" ] || { cat "$dir/garage.log" >&2; echo "garage did not start" >&2; return 1; }
  # The node id can be read before the daemon answers on its RPC port: wait for an
  # answer before changing the layout (a CI run once failed with "connection refused").
  local up=""
  for _ in $(seq 1 100); do
    "${g[@]}" status >/dev/null 2>&1 && up=1 && break
    sleep 0.1
  done
  [ -n "$up" ] || { cat "$dir/garage.log" >&2; echo "garage does not answer" >&2; return 1; }
  "${g[@]}" layout assign -z dc1 -c 1G "$node" >/dev/null
  "${g[@]}" layout apply --version 1 >/dev/null
  local key_id="GK0123456789abcdef01234567"
  local secret="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  "${g[@]}" key import --yes -n coffer-test "$key_id" "$secret" >/dev/null
  "${g[@]}" bucket create coffer-test >/dev/null
  "${g[@]}" bucket allow --read --write --owner coffer-test --key coffer-test >/dev/null
  # The cloud tier's bucket (tests/api/tiering.rs): a second bucket of the same store.
  "${g[@]}" bucket create coffer-test-tier >/dev/null
  "${g[@]}" bucket allow --read --write --owner coffer-test-tier --key coffer-test >/dev/null
  export COFFER_TEST_S3=garage
  export COFFER_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
  export COFFER_TEST_S3_REGION=garage
  export COFFER_TEST_S3_BUCKET=coffer-test
  export COFFER_TEST_TIER_BUCKET=coffer-test-tier
  export COFFER_TEST_S3_ACCESS_KEY="$key_id"
  export COFFER_TEST_S3_SECRET_KEY="$secret"
  export GARAGE_PID GARAGE_DIR="$dir"
  echo "== garage running at $COFFER_TEST_S3_ENDPOINT (pid $GARAGE_PID)"
}

garage_stop() {
  if [ -n "${GARAGE_PID:-}" ]; then kill "$GARAGE_PID" 2>/dev/null || true; wait "$GARAGE_PID" 2>/dev/null || true; fi
  if [ -n "${GARAGE_DIR:-}" ]; then rm -rf "$GARAGE_DIR"; fi
}

case "${1:-}" in
  install) garage_install ;;
  start) garage_start ;;
  "") ;;
  *) echo "usage: source .ci/garage.sh [install|start]" >&2; return 2 2>/dev/null || exit 2 ;;
esac
