#!/bin/sh
# The first start makes the cluster (superuser and database `coffer`, the password from
# $POSTGRES_PASSWORD_FILE, SCRAM over TCP, trust only on the container's own socket);
# every start then runs the server on the pod's loopback.
set -eu
: "${PGDATA:?}" "${POSTGRES_PASSWORD_FILE:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --pgdata="$PGDATA" --username=coffer --pwfile="$POSTGRES_PASSWORD_FILE" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    --no-instructions
  echo "CREATE DATABASE coffer OWNER coffer;" | postgres --single -D "$PGDATA" -j postgres >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp "$@"
