#!/usr/bin/env bash
# Prints the pod's Kubernetes Secret `coffer-secrets` with fresh random values, for
#   (umask 077; podman/make-secrets.sh > ~/coffer-secrets.yaml)
#   podman kube play ~/coffer-secrets.yaml   # stores it as the podman secret coffer-secrets
# Keep the file (or its values) somewhere safe, outside the repository: the database
# password and the S3 key are fixed in the volumes at first start, so the same values
# must come back after a reinstall.
set -euo pipefail
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# A Secret's `data` is base64, as Kubernetes has it, from Podman 4.4 on. Podman 4.3 (Debian
# 12's) checks that `data` is base64 but then writes it into the files as it is, and
# ignores `stringData` (containers/podman#16625): for it the values are written as they
# are -- hex digits, a multiple of 4 of them, so valid base64 too; that is why every value
# here is hex. COFFER_SECRET_ENCODING=base64|plain chooses.
encoding="${COFFER_SECRET_ENCODING:-}"
if [ -z "$encoding" ]; then
  version=$(podman version --format '{{.Client.Version}}' 2>/dev/null || echo 5.0.0)
  case "$version" in
    [0-3].* | 4.[0-3] | 4.[0-3].*) encoding=plain ;;
    *) encoding=base64 ;;
  esac
fi
case "$encoding" in
  base64) b64() { printf %s "$1" | base64 -w0; } ;;
  plain) b64() { printf %s "$1"; } ;;
  *) echo "COFFER_SECRET_ENCODING: base64 or plain, not $encoding" >&2; exit 2 ;;
esac

cat <<YAML
# Values encoded for Podman: $encoding (see podman/make-secrets.sh).
apiVersion: v1
kind: Secret
metadata:
  name: coffer-secrets
type: Opaque
data:
  jwt-secret: "$(b64 "$(hex 32)")"
  db-password: "$(b64 "$(hex 24)")"
  # The S3 key's secret (64 hex digits, as Garage wants it); its id, not a secret, is in
  # coffer.yaml.
  s3-secret-key: "$(b64 "$(hex 32)")"
  metrics-token: "$(b64 "$(hex 24)")"
  garage-rpc-secret: "$(b64 "$(hex 32)")"
  garage-admin-token: "$(b64 "$(hex 32)")"
YAML
