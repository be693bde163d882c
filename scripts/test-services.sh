#!/usr/bin/env bash
# Install (Debian packages) and start the servers the tests need, on loopback only, and print the
# PostgreSQL URL for HUBSERVE_TEST_POSTGRES_URL. redis-server is only installed: the tests start their own;
# espeak-ng too, which speaks the second clip of the speech-recognition round trip.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || need+=(postgresql)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} from Debian..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -n1)
pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main" || pg_createcluster "$version" main >&2
pg_ctlcluster "$version" main start >&2 2>/dev/null || true  # already running is fine
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$port" || { echo "PostgreSQL did not start on 127.0.0.1:$port" >&2; exit 1; }
psql_as_postgres() { su postgres -c "psql -p $port -tAc \"$1\""; }
[ "$(psql_as_postgres "SELECT 1 FROM pg_roles WHERE rolname='hubserve'")" = 1 ] ||
    psql_as_postgres "CREATE ROLE hubserve LOGIN PASSWORD 'hubserve' SUPERUSER" >&2
[ "$(psql_as_postgres "SELECT 1 FROM pg_database WHERE datname='hubserve_test'")" = 1 ] ||
    su postgres -c "createdb -p $port -O hubserve hubserve_test" >&2
echo "postgresql+psycopg://hubserve:hubserve@127.0.0.1:$port/hubserve_test"
