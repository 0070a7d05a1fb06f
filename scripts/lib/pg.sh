# shellcheck shell=bash
# pg.sh — a throwaway PostgreSQL cluster for tests and benchmarks, optionally on ZVFS.
#
# Sourced by bench/run.sh and the PostgreSQL application tests. The cluster runs as the
# `postgres` user (so with ZVFS it crosses users to the daemon), listens only on a Unix socket
# in a directory of our own (listen_addresses = ''), and maps no file of its data directory
# (System V shared memory), so ZVFS never sees a writable MAP_SHARED mapping.
#
# Inputs (set by the caller):
#   PG_ENV    array of NAME=VALUE for the server and initdb, e.g. the LD_PRELOAD/ZVFS_* settings
# Outputs:
#   PG_BIN    the PostgreSQL binaries; PG_PID the postmaster's PID (pg_start)
# Every wait is bounded; the server is stopped by its PID only.

PG_ENV=()
PG_PID=""
PG_BIN=""

# pg_find_bin: the newest installed server's binaries.
pg_find_bin() {
  local d
  PG_BIN=""
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && PG_BIN=$d
  done
  if [ -z "$PG_BIN" ]; then
    echo "pg: no PostgreSQL server found under /usr/lib/postgresql" >&2
    return 1
  fi
}

# pg_as_postgres CMD...: runs CMD as the postgres user with PG_ENV added to the environment.
pg_as_postgres() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "pg: must run as root to start PostgreSQL as the postgres user" >&2
    return 1
  fi
  setpriv --reuid=postgres --regid=postgres --init-groups -- env "${PG_ENV[@]}" "$@"
}

# pg_exec_as_postgres CMD...: the same, replacing the calling (sub)shell, so that
# `(pg_exec_as_postgres postgres ...) &` leaves the postmaster's own PID in $!.
pg_exec_as_postgres() {
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- env "${PG_ENV[@]}" "$@"
}

# pg_prepare_dir DIR: creates DIR owned by postgres (mode 700) and makes its parents reachable.
pg_prepare_dir() {
  mkdir -p "$1"
  chown postgres:postgres "$1"
  chmod 700 "$1"
}

# pg_init DATA: initdb (trust auth for local connections only) and our settings.
pg_init() {
  local data=$1
  pg_as_postgres "$PG_BIN/initdb" -D "$data" -U postgres -A trust --no-instructions \
    >"$data.initdb.log" 2>&1 || {
    tail -n 20 "$data.initdb.log" >&2
    return 1
  }
  # Appended by a process of the cluster's own kind (as postgres, with PG_ENV): on ZVFS the
  # file's data lives in the pool, and a plain `cat >>` would write beside it.
  pg_as_postgres sh -c 'cat >>"$1"' sh "$data/postgresql.conf" <<'EOF'
listen_addresses = ''
shared_memory_type = sysv
dynamic_shared_memory_type = sysv
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 128MB
max_wal_size = 1GB
checkpoint_timeout = 30min
logging_collector = off
EOF
}

# pg_start DATA SOCKDIR PORT: starts the postmaster in the background (PG_PID) and waits until
# it accepts connections (bounded).
pg_start() {
  local data=$1 sock=$2 port=$3 i
  mkdir -p "$sock"
  chown postgres:postgres "$sock"
  [ "$(id -u)" -eq 0 ] || {
    echo "pg: must run as root to start PostgreSQL as the postgres user" >&2
    return 1
  }
  (pg_exec_as_postgres "$PG_BIN/postgres" -D "$data" -k "$sock" -p "$port" \
    </dev/null >>"$data.server.log" 2>&1) &
  PG_PID=$!
  for ((i = 0; i < 600; i++)); do
    if "$PG_BIN/pg_isready" -q -h "$sock" -p "$port" -U postgres; then
      return 0
    fi
    if ! kill -0 "$PG_PID" 2>/dev/null; then
      echo "pg: the server exited while starting; its log:" >&2
      tail -n 30 "$data.server.log" >&2
      PG_PID=""
      return 1
    fi
    sleep 0.1
  done
  echo "pg: the server did not accept connections within 60s" >&2
  return 1
}

# pg_stop: fast shutdown (SIGINT) of the postmaster started by pg_start, bounded, then SIGKILL.
pg_stop() {
  local i
  [ -n "$PG_PID" ] || return 0
  kill -INT "$PG_PID" 2>/dev/null
  for ((i = 0; i < 600; i++)); do
    kill -0 "$PG_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PG_PID" 2>/dev/null; then
    echo "pg: postmaster $PG_PID did not stop within 60s; killing it" >&2
    kill -KILL "$PG_PID" 2>/dev/null
  fi
  wait "$PG_PID" 2>/dev/null
  PG_PID=""
}

# pg_kill9: kills the postmaster with SIGKILL (crash tests). Its children notice the postmaster's
# death and exit on their own; a restart waits for them (bounded) through pg_start.
pg_kill9() {
  local kids i k alive
  [ -n "$PG_PID" ] || return 0
  kids=$(ps -o pid= --ppid "$PG_PID" 2>/dev/null)
  kill -KILL "$PG_PID" 2>/dev/null
  wait "$PG_PID" 2>/dev/null
  PG_PID=""
  # The backends exit when they notice; a new postmaster refuses to start while they live.
  for ((i = 0; i < 300; i++)); do
    alive=""
    for k in $kids; do kill -0 "$k" 2>/dev/null && alive="$alive $k"; done
    [ -z "$alive" ] && return 0
    sleep 0.1
  done
  for k in $alive; do kill -KILL "$k" 2>/dev/null; done
  return 0
}

# pg_sql SOCKDIR PORT DB SQL: runs SQL with psql (as root's client, user postgres), quiet.
pg_sql() {
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d "$3" -c "$4"
}
