#!/usr/bin/env bash
# Runs "$@" with a real, private PostgreSQL server:
#   tests/with-postgres.sh ./test-store
# initdb into a temporary directory as an unprivileged user (PostgreSQL
# refuses to run as root; tests run as root in CI), listening only on
# 127.0.0.1 on a free port (its Unix socket inside the temporary directory),
# with fsync on: the store's durability is part of what is tested. The
# command gets TESSERA_TEST_POSTGRES=postgresql://tessera:PASSWORD@127.0.0.1:PORT/tessera,
# a role allowed to create databases (tests/store-backend.h makes one per
# test). The server is stopped and its directory removed at exit, whatever
# happens.
#
# PG_BIN overrides where initdb and pg_ctl are (default: the newest
# /usr/lib/postgresql/*/bin; scripts/install-deps.sh installs them).
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

PG_BIN=${PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
  echo "with-postgres: initdb/pg_ctl not found (install the postgresql package:" \
    "scripts/install-deps.sh, or set PG_BIN)" >&2
  exit 77 # ctest SKIP_RETURN_CODE
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-pg.XXXXXX")
data="$tmp/data"
sock="$tmp/sock"
mkdir -p "$sock"

# As root: the server runs as nobody, so it owns its directory.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown -R nobody:nogroup "$tmp"
  as_pg=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
chmod 0700 "$tmp"

cleanup() {
  local rc=$?
  if [ -f "$data/postmaster.pid" ]; then
    (cd "$tmp" && "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1) ||
      (cd "$tmp" && "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1) || true
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A random password for the superuser: the port is on loopback, but other
# local users must not get in.
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" >"$tmp/pwfile"
[ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$tmp/pwfile"
(cd "$tmp" && "${as_pg[@]}" "$PG_BIN/initdb" -D "$data" -U tessera --pwfile="$tmp/pwfile" \
  --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
  >"$tmp/initdb.log" 2>&1) || {
  cat "$tmp/initdb.log" >&2
  exit 1
}
rm -f "$tmp/pwfile"

# A free port: ask the kernel for one, then start on it (retried, since
# another process may take it in between).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
    2>/dev/null || echo $((20000 + RANDOM % 40000))
}
started=
for _ in 1 2 3 4 5; do
  port=$(free_port)
  if (cd "$tmp" && "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$tmp/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sock \
        -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=300 \
        -c shared_buffers=32MB" start >/dev/null 2>&1); then
    started=1
    break
  fi
done
if [ -z "$started" ]; then
  echo "with-postgres: PostgreSQL did not start:" >&2
  cat "$tmp/server.log" >&2 || true
  exit 1
fi

# The tests connect as an ordinary role that may create databases (one per
# test), not as the superuser: the store needs no more than that.
role_password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
PGPASSWORD=$password "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
  "postgresql://tessera@127.0.0.1:$port/postgres" >/dev/null <<SQL
CREATE ROLE tessera_test LOGIN CREATEDB PASSWORD '$role_password';
CREATE DATABASE tessera_test OWNER tessera_test;
-- DROP DATABASE ... WITH (FORCE) in the tests' teardown also ends an autovacuum
-- worker in that database (seen under load), which needs this role.
GRANT pg_signal_backend TO tessera_test;
SQL

# connect_timeout: under valgrind, dozens of threads doing SCRAM at once
# take longer than the store's default of 10 s.
export TESSERA_TEST_POSTGRES="postgresql://tessera_test:$role_password@127.0.0.1:$port/tessera_test?connect_timeout=60"
echo "with-postgres: PostgreSQL $("$PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port ($data)" >&2
"$@"
