#!/bin/sh
# Starts Garage, then makes sure of the single-node layout, the key Coffer signs with
# (its id from $COFFER_S3_ACCESS_KEY, its secret from the pod's Secret) and the bucket, doing only what is missing, so every
# restart is safe; then waits on the server.
set -eu
S=/run/secrets/coffer
BUCKET="${COFFER_BUCKET:-coffer}"
garage server &
pid=$!
trap 'kill -TERM "$pid"; wait "$pid"' TERM INT
i=0
until garage status >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -lt 300 ] || { echo "garage does not answer" >&2; exit 1; }
  sleep 0.2
done
node=$(garage node id -q | cut -d@ -f1)
if garage layout show | grep -q "No nodes currently have a role"; then
  garage layout assign -z pod -c 1T "$node"
  garage layout apply --version 1
fi
key_id="${COFFER_S3_ACCESS_KEY:?the key id, GK and 24 hex digits}"
garage key info "$key_id" >/dev/null 2>&1 \
  || garage key import --yes -n coffer "$key_id" "$(cat "$S/s3-secret-key")"
garage bucket info "$BUCKET" >/dev/null 2>&1 || garage bucket create "$BUCKET"
garage bucket allow --read --write --owner "$BUCKET" --key "$key_id" >/dev/null
echo "garage: layout, key and bucket $BUCKET ready"
wait "$pid"
