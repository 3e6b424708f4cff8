#!/usr/bin/env bash
# The Podman deliverable, run for real: as an unprivileged user made for the purpose
# (rootless, subordinate UIDs), build the images, play podman/coffer.yaml, wait for the
# pod to be healthy, show that every container runs as a non-root user with a read-only
# root filesystem, run the README tour through the pod (uploads go to Garage through
# presigned URLs signed for the published S3 port), check the Grafana dashboard against
# a real scrape and the Quadlet units' keys, restart the pod and check the data survived,
# then tear it all down.
#
# Usage (as root; CI runs it after building the release binaries):
#   podman/test.sh [folder holding release builds of cofferd and coffer-worker]
# Needs ports 8080 and 3900 free. Installs what it needs (Debian's podman, runc, uidmap,
# slirp4netns, fuse-overlayfs, debootstrap) and keeps the Debian base image it makes and
# the Garage binary in ~/.cache/coffer-tools for later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BINS=$(realpath "${1:-target/release}")
POD_USER=coffer-pod
TOOLS="${COFFER_TOOLS_DIR:-$HOME/.cache/coffer-tools}"
BASE_TAR="$TOOLS/debian-bookworm-slim.tar"
BASE_IMAGE=docker.io/library/debian:bookworm-slim
started=$(date +%s)
step() { echo "== podman: $* ($(($(date +%s) - started)) s)"; }

[ "$(id -u)" = 0 ] || { echo "run as root: it creates the rootless user" >&2; exit 1; }
for b in cofferd coffer-worker; do
  [ -x "$BINS/$b" ] || { echo "no $BINS/$b: cargo build --release first" >&2; exit 1; }
done

step "installing podman"
need=()
for c in podman runc newuidmap slirp4netns fuse-overlayfs debootstrap; do
  command -v "$c" >/dev/null || need+=("$c")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc uidmap slirp4netns \
    fuse-overlayfs debootstrap >/dev/null
fi

# The rootless user: its own subordinate UIDs, runc (crun fails on this kernel), file
# events and cgroupfs (no systemd user session here).
id "$POD_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$POD_USER"
grep -q "^$POD_USER:" /etc/subuid || usermod --add-subuids 200000-265535 "$POD_USER"
grep -q "^$POD_USER:" /etc/subgid || usermod --add-subgids 200000-265535 "$POD_USER"
POD_HOME=$(getent passwd "$POD_USER" | cut -d: -f6)
install -d -o "$POD_USER" -g "$POD_USER" "$POD_HOME/.config" "$POD_HOME/.config/containers"
cat > "$POD_HOME/.config/containers/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
chown "$POD_USER:" "$POD_HOME/.config/containers/containers.conf"
# Rootless networking (slirp4netns) opens /dev/net/tun as that user.
chmod 666 /dev/net/tun
RUNDIR=/tmp/coffer-pod-run
install -d -o "$POD_USER" -g "$POD_USER" -m 0700 "$RUNDIR"

WORK=$(mktemp -d /tmp/coffer-podman.XXXXXX)
chmod 755 "$WORK"
# Runs a command as the rootless user, in $WORK.
as_user() {
  runuser -u "$POD_USER" -- env --chdir="$WORK" XDG_RUNTIME_DIR="$RUNDIR" HOME="$POD_HOME" \
    PATH=/usr/local/bin:/usr/bin:/bin "$@"
}
pm() { as_user podman "$@" 2> >(grep -v 'is not a shared mount' >&2); }

# The pod, its volumes and its Secret, whatever state they are in.
remove_pod() {
  pm pod rm -f coffer >/dev/null 2>&1
  pm volume rm coffer-pgdata coffer-garage-meta coffer-garage-data coffer-data \
    coffer-tmp-postgres coffer-tmp-garage coffer-tmp-coffer >/dev/null 2>&1
  pm secret rm coffer-secrets >/dev/null 2>&1
  return 0
}
teardown() {
  set +e
  remove_pod
  rm -rf "$WORK"
}
trap teardown EXIT
# What an earlier, interrupted run may have left.
remove_pod || true

step "the Debian base image (no registry: debootstrap, then podman import)"
# A base whose / only root could enter (made by an earlier test.sh): made again.
if pm image exists "$BASE_IMAGE" \
  && [ "$(pm run --rm --user 0 --entrypoint /usr/bin/stat "$BASE_IMAGE" -c %a / 2>/dev/null)" != 755 ]; then
  pm rmi -f "$BASE_IMAGE" >/dev/null
  rm -f "$BASE_TAR"
fi
if [ ! -s "$BASE_TAR" ] || [ "$(tar -tvf "$BASE_TAR" ./ 2>/dev/null | head -n1 | cut -c1-10)" != drwxr-xr-x ]; then
  rm -f "$BASE_TAR"
fi
if [ ! -s "$BASE_TAR" ]; then
  mkdir -p "$TOOLS"
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  # What the registry's -slim image leaves out: documentation, manuals, locales, caches.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
  printf 'path-exclude /usr/share/%s/*\n' doc man locale info \
    > "$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  # mktemp made it 0700, and tar keeps the mode of "." as the image's /: no user but
  # root could then reach anything.
  chmod 755 "$rootfs"
  tar -C "$rootfs" -cf "$BASE_TAR.part" .
  mv "$BASE_TAR.part" "$BASE_TAR"
  rm -rf "$rootfs"
fi
if ! pm image exists "$BASE_IMAGE"; then
  cp "$BASE_TAR" "$WORK/base.tar" && chmod 644 "$WORK/base.tar"
  pm import "$WORK/base.tar" "$BASE_IMAGE" >/dev/null
  rm "$WORK/base.tar"
fi

step "the Garage binary"
# shellcheck source=../.ci/garage.sh
source .ci/garage.sh install

step "building the images (rootless)"
# The runtime-only Containerfile must stay the multi-stage one's runtime stage.
diff <(sed -n '/^# --- runtime/,$p' podman/Containerfile | grep -v '^COPY --from=build ') \
  <(sed -n '/^# --- runtime/,$p' podman/Containerfile.runtime | grep -v '^COPY cofferd ') \
  || { echo "podman/Containerfile.runtime differs from Containerfile's runtime stage" >&2; exit 1; }
mkdir -p "$WORK/ctx-coffer" "$WORK/ctx-garage"
cp "$BINS/cofferd" "$BINS/coffer-worker" "$WORK/ctx-coffer/"
strip "$WORK/ctx-coffer/cofferd" "$WORK/ctx-coffer/coffer-worker"
cp podman/Containerfile.runtime "$WORK/ctx-coffer/Containerfile"
cp -r podman/postgres "$WORK/ctx-postgres"
cp "$GARAGE_BIN" podman/garage/garage.toml podman/garage/entrypoint.sh podman/garage/Containerfile \
  "$WORK/ctx-garage/"
cp podman/coffer.yaml "$WORK/"
chmod -R a+rX "$WORK"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
source_url=$(git remote get-url origin 2>/dev/null || echo unknown)
# --format docker keeps HEALTHCHECK (the OCI format has no such field).
pm build --format docker --build-arg VERSION="$version" --build-arg SOURCE="$source_url" \
  -t localhost/coffer:latest "$WORK/ctx-coffer" >/dev/null
# Built every run, like Coffer's: buildah reuses the layers that did not change.
pm build --format docker -t localhost/coffer-postgres:15 "$WORK/ctx-postgres" >/dev/null
pm build --format docker -t localhost/coffer-garage:2.5.0 "$WORK/ctx-garage" >/dev/null
size=$(pm image inspect localhost/coffer:latest --format '{{.Size}}')
echo "image localhost/coffer:latest: $((size / 1000000)) MB ($size bytes; target < 120 MB)"
[ "$size" -lt 120000000 ] || { echo "the runtime image is over 120 MB" >&2; exit 1; }
pm image inspect localhost/coffer:latest \
  --format 'labels: {{json .Labels}}; user: {{.User}}; healthcheck: {{json .HealthCheck}}'

step "the Secret and the pod"
bash podman/make-secrets.sh > "$WORK/secrets.yaml"
chmod 644 "$WORK/secrets.yaml"
# A secret as the pod's containers read it (PostgreSQL's image has a cat; Coffer's no shell).
secret() { pm exec coffer-postgres cat "/run/secrets/coffer/$1"; }
pm kube play "$WORK/secrets.yaml" >/dev/null
play() {
  # Into a file, not a pipe: the containers' monitors inherit the output and would hold
  # a pipe open. (No systemd here to run health checks on a timer: the errors saying so
  # are expected.)
  as_user podman kube play "$WORK/coffer.yaml" > "$WORK/play.log" 2>&1 || true
  pm pod exists coffer || { cat "$WORK/play.log" >&2; echo "the pod was not created" >&2; exit 1; }
}
wait_ready() {
  for _ in $(seq 1 180); do
    curl -fs --max-time 3 http://127.0.0.1:8080/readyz >/dev/null 2>&1 && return 0
    sleep 1
  done
  pm ps -a --pod
  for c in postgres garage api worker; do
    echo "--- coffer-$c"; pm logs --tail 30 "coffer-$c" || true
  done
  echo "the pod did not become ready" >&2
  exit 1
}
play
wait_ready
step "the pod is ready"
# The health checks the runtime would run on a timer, run once by hand.
for c in api postgres garage; do pm healthcheck run "coffer-$c"; done
echo "health checks: ok"

step "what runs: users, read-only roots, capabilities (podman inspect)"
for c in postgres garage api worker; do
  pm inspect "coffer-$c" --format \
    "{{.Name}}: user={{.Config.User}} readonly_rootfs={{.HostConfig.ReadonlyRootfs}} cap_drop={{.HostConfig.CapDrop}} cap_add={{.HostConfig.CapAdd}} security_opt={{.HostConfig.SecurityOpt}} ports={{json .HostConfig.PortBindings}}"
  user=$(pm inspect "coffer-$c" --format '{{.Config.User}}')
  ro=$(pm inspect "coffer-$c" --format '{{.HostConfig.ReadonlyRootfs}}')
  [ "$ro" = true ] || { echo "coffer-$c: root filesystem not read-only" >&2; exit 1; }
  case "$user" in 0 | 0:* | root | root:* | "") echo "coffer-$c runs as root" >&2; exit 1 ;; esac
  # As seen from inside and from the host: a non-root UID in the user namespace, mapped
  # to a subordinate UID of the rootless user (never the host's root).
  mapped=$(pm top "coffer-$c" user huser | sed -n 2p)
  echo "  inside: ${mapped% *}, on the host: ${mapped##* }"
  case "${mapped##* }" in 0 | root) echo "coffer-$c is root on the host" >&2; exit 1 ;; esac
  pm exec "coffer-$c" touch /probe 2>/dev/null \
    && { echo "coffer-$c: wrote to its root filesystem" >&2; exit 1; }
done
echo "the rootless user namespace (inside, host, count):"
pm unshare cat /proc/self/uid_map

step "the README tour through the pod"
mkdir -p "$WORK/bin"
cat > "$WORK/bin/cofferd" <<EOF
#!/usr/bin/env bash
# cofferd inside the pod's API container (the tour's operator commands).
cd /
exec runuser -u $POD_USER -- env XDG_RUNTIME_DIR=$RUNDIR HOME=$POD_HOME \\
  podman exec -i coffer-api /usr/local/bin/cofferd "\$@"
EOF
chmod 755 "$WORK/bin/cofferd"
COFFER_METRICS_TOKEN=$(secret metrics-token) TOUR_RUNNING=1 \
  bash tests/readme_tour.sh "$WORK/bin/cofferd"

step "the Grafana dashboard against a real scrape"
curl -fs http://127.0.0.1:8080/metrics -H "Authorization: Bearer $(secret metrics-token)" \
  > "$WORK/scrape.txt"
python3 podman/check_dashboard.py --self-test
python3 podman/check_dashboard.py podman/grafana/coffer.json "$WORK/scrape.txt"

step "the Quadlet units' keys"
python3 podman/check_quadlet.py --self-test
python3 podman/check_quadlet.py

step "restarting the pod: the data must survive"
# bob (the tour's second user; it deleted alice) stores a file through the pod (start,
# PUT to Garage, complete); his files, with the SHA-256 of their bytes downloaded again,
# must be the same after the restart.
cat > "$WORK/carol.py" <<'EOF'
import hashlib, json, sys, urllib.request
API = "http://127.0.0.1:8080/api/v1"
def call(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req) as res:
        text = res.read()
    return json.loads(text) if text else None
login = {"username": "bob", "password": "another horse battery staple"}
token = call("POST", "/auth/login", login)["access_token"]
if sys.argv[1] == "seed":
    data = hashlib.sha256(b"survives a restart").hexdigest().encode() * 1000
    up = call("POST", "/uploads", {"name": "kept.txt", "size": len(data),
              "content_type": "text/plain"}, token)  # what the tour still allows
    put = urllib.request.Request(up["put"]["url"], data=data, method="PUT",
                                 headers=up["put"]["headers"])
    urllib.request.urlopen(put).read()
    call("POST", "/uploads/" + up["upload_id"] + "/complete", {}, token)
for item in sorted(call("GET", "/folders/root/items", None, token)["items"], key=lambda i: i["name"]):
    url = call("GET", "/files/" + item["id"] + "/download", None, token)["url"]
    digest = hashlib.sha256(urllib.request.urlopen(url).read()).hexdigest()
    print(item["name"], item["size"], digest)
EOF
before=$(python3 "$WORK/carol.py" seed)
[ -n "$before" ] || { echo "bob's file was not stored" >&2; exit 1; }
pm kube down "$WORK/coffer.yaml" >/dev/null
curl -fs --max-time 3 http://127.0.0.1:8080/healthz >/dev/null 2>&1 && { echo "the pod still answers" >&2; exit 1; }
play
wait_ready
after=$(python3 "$WORK/carol.py" snapshot)
echo "bob's files before the restart (name, size, sha256): $before"
[ "$before" = "$after" ] || { echo "after: $after"; echo "the data changed across the restart" >&2; exit 1; }
echo "the same after the restart"
pm exec coffer-api /usr/local/bin/cofferd check-usage
pm exec coffer-api /usr/local/bin/cofferd check-storage

step "tearing down"
teardown
trap - EXIT
step "passed"
