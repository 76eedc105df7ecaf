#!/usr/bin/env bash
# Starts (or reuses) a throwaway PostgreSQL server for the registry tests and prints its URL:
#   export PINFOLD_TEST_POSTGRES_URL=$(test/registry/start-test-postgres.sh)
# Idempotent: re-running with a server already up just prints the URL again.
# Env: PINFOLD_PG_PORT (5433), PINFOLD_PG_DATA (/tmp/pinfold-pgdata), PINFOLD_PG_BIN
# (/usr/lib/postgresql/15/bin or the newest installed), PINFOLD_PG_USER (OS user that runs
# the server when invoked as root; default postgres).
set -euo pipefail

PORT="${PINFOLD_PG_PORT:-5433}"
DATA="${PINFOLD_PG_DATA:-/tmp/pinfold-pgdata}"
RUN_AS="${PINFOLD_PG_USER:-postgres}"
BIN="${PINFOLD_PG_BIN:-}"
if [ -z "$BIN" ]; then
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then BIN=/usr/lib/postgresql/15/bin
  else BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"; fi
fi
[ -x "$BIN/initdb" ] || { echo "initdb not found (set PINFOLD_PG_BIN)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then su "$RUN_AS" -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

# A server already answering on the port (an earlier run's) is reused as it is.
if "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:$PORT/postgres"
  exit 0
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown "$RUN_AS" "$DATA"
  as_owner "'$BIN/initdb' -D '$DATA' -A trust -U postgres" >&2
fi

if ! as_owner "'$BIN/pg_ctl' -D '$DATA' status" >/dev/null 2>&1; then
  as_owner "'$BIN/pg_ctl' -D '$DATA' -o \"-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off\" -l '$DATA/server.log' -w start" >&2
fi

for _ in $(seq 1 50); do
  if "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" >/dev/null 2>&1; then
    echo "postgres://postgres@127.0.0.1:$PORT/postgres"
    exit 0
  fi
  sleep 0.2
done
echo "PostgreSQL did not become ready on port $PORT (see $DATA/server.log)" >&2
exit 1
