#!/usr/bin/env bash
# Starts Debian's PostgreSQL and creates the database the pg-backend suite applies a stack into.
# Sourced by .ci/run; prints the connection string it exports as TALOS_ENCLAVE_PG_CONN.
set -euo pipefail
version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" | sort -V | tail -1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -q "^$version main$"; then
  pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster "$version" main start 2>/dev/null || pg_ctlcluster "$version" main status >/dev/null
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
su postgres -c "psql -q -p $port -v ON_ERROR_STOP=1" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'talos_enclave') THEN
    CREATE ROLE talos_enclave LOGIN PASSWORD 'talos-enclave-ci';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE talos_enclave_state OWNER talos_enclave'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'talos_enclave_state') \gexec
SQL
export TALOS_ENCLAVE_PG_CONN="postgres://talos_enclave:talos-enclave-ci@127.0.0.1:$port/talos_enclave_state?sslmode=disable"
echo "ci: PostgreSQL $version on port $port (database talos_enclave_state)"
