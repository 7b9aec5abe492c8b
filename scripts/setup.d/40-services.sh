#!/usr/bin/env bash
# Redis on 127.0.0.1:6379 and PostgreSQL 15 with a role and database `nngrade`, both on loopback only.
# Idempotent and fast when both already run; works without systemd (containers, CI runners).
set -euo pipefail

pg_version=15
pg_cluster=main
pg_url="postgresql+psycopg://nngrade:nngrade@127.0.0.1:5432/nngrade"
redis_url="redis://127.0.0.1:6379/0"

need=()
command -v redis-server >/dev/null || need+=(redis-server)
[ -x "/usr/lib/postgresql/$pg_version/bin/postgres" ] || need+=(postgresql)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Redis: append-only persistence so a restart keeps queued tasks (the gradebook sweep covers the rest).
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis
    chown redis:redis /var/lib/redis /var/log/redis 2>/dev/null || true
    runas=()
    id redis >/dev/null 2>&1 && runas=(runuser -u redis --)
    "${runas[@]}" redis-server --bind 127.0.0.1 --port 6379 --daemonize yes \
        --dir /var/lib/redis --appendonly yes --logfile /var/log/redis/nngrade-redis.log
    for _ in $(seq 50); do
        redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
fi

# PostgreSQL: the Debian cluster, listening on loopback only.
if ! pg_lsclusters -h 2>/dev/null | awk -v v="$pg_version" -v c="$pg_cluster" '$1 == v && $2 == c' | grep -q .; then
    pg_createcluster "$pg_version" "$pg_cluster" >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$pg_version" -v c="$pg_cluster" '$1 == v && $2 == c {print $4}' | grep -q online; then
    pg_ctlcluster "$pg_version" "$pg_cluster" start -o "-c listen_addresses=127.0.0.1"
fi
for _ in $(seq 50); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.1
done
pg_isready -q -h 127.0.0.1 -p 5432

psql_admin() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'nngrade'")" != "1" ]; then
    # CREATEDB lets the test suite make a throwaway database per session.
    psql_admin -c "CREATE ROLE nngrade LOGIN CREATEDB PASSWORD 'nngrade'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'nngrade'")" != "1" ]; then
    psql_admin -c "CREATE DATABASE nngrade OWNER nngrade"
fi

echo "redis:      $redis_url"
echo "postgresql: $pg_url"
echo "the portal and workers use SQLite (var/) unless NNGRADE_DATABASE_URL names a database such as this one"
