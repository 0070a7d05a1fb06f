# shellcheck shell=bash
# zvfs.sh — start, probe and stop a ZVFS daemon from shell scripts.
#
# Sourced by quickstart.sh, the application tests (tests/apps) and the benchmark suite. It knows
# only the documented interfaces: `zvfsd --pool PATH [--size SIZE] [--socket PATH] [--foreground]
# [--cache SIZE] [--log FILE]`, `zvfs status|down|run`, and the environment ZVFS_SOCKET,
# ZVFS_ROOT, ZVFS_LOG. Every wait is bounded; every process it starts is stopped by its PID.
#
# Variables it sets or reads:
#   ZVFSD, ZVFS_CLI, ZVFS_LIB   the daemon, the command line and libzvfs.so (zvfs_find_product)
#   ZVFS_SOCKET                 the daemon's socket (exported for the CLI and the library)
#   ZVFSD_PID                   the PID of a daemon started in the foreground by zvfs_daemon_start

# zvfs_find_product DIR...: finds zvfsd, zvfs and libzvfs.so in the given install prefixes or
# build trees (first match wins). Returns non-zero, and says what is missing, if any is absent.
zvfs_find_product() {
  local d c
  ZVFSD="" ZVFS_CLI="" ZVFS_LIB=""
  for d in "$@"; do
    for c in "$d/bin/zvfsd" "$d/src/daemon/zvfsd" "$d/zvfsd"; do
      [ -z "$ZVFSD" ] && [ -x "$c" ] && ZVFSD=$c
    done
    for c in "$d/bin/zvfs" "$d/src/cli/zvfs" "$d/zvfs"; do
      [ -z "$ZVFS_CLI" ] && [ -x "$c" ] && [ -f "$c" ] && ZVFS_CLI=$c
    done
    for c in "$d/lib/libzvfs.so" "$d/src/client/libzvfs.so" "$d/libzvfs.so"; do
      [ -z "$ZVFS_LIB" ] && [ -f "$c" ] && ZVFS_LIB=$c
    done
  done
  local missing=()
  [ -n "$ZVFSD" ] || missing+=(zvfsd)
  [ -n "$ZVFS_CLI" ] || missing+=(zvfs)
  [ -n "$ZVFS_LIB" ] || missing+=(libzvfs.so)
  if [ ${#missing[@]} -ne 0 ]; then
    echo "zvfs: not found in $*: ${missing[*]}" >&2
    return 1
  fi
  return 0
}

# zvfs_daemon_ready [SECONDS]: waits until the daemon at $ZVFS_SOCKET answers `zvfs status`.
# Fails early if a foreground daemon started by zvfs_daemon_start has exited.
zvfs_daemon_ready() {
  local limit=${1:-30} i
  for ((i = 0; i < limit * 10; i++)); do
    if "$ZVFS_CLI" status >/dev/null 2>&1; then
      return 0
    fi
    if [ -n "${ZVFSD_PID:-}" ] && ! kill -0 "$ZVFSD_PID" 2>/dev/null; then
      echo "zvfs: the daemon (pid $ZVFSD_PID) exited before it was ready" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "zvfs: the daemon at $ZVFS_SOCKET did not answer within ${limit}s" >&2
  return 1
}

# zvfs_daemon_start POOL SIZE SOCKET LOG [ZVFSD-ARGS...]: starts zvfsd in the foreground as a
# child of this shell (so its PID is known: ZVFSD_PID) and waits until it answers.
zvfs_daemon_start() {
  local pool=$1 size=$2 sock=$3 log=$4
  shift 4
  export ZVFS_SOCKET=$sock
  mkdir -p "$(dirname "$sock")" "$(dirname "$log")"
  "$ZVFSD" --pool "$pool" --size "$size" --socket "$sock" --log "$log" --foreground "$@" \
    </dev/null >>"$log.stdout" 2>&1 &
  ZVFSD_PID=$!
  if ! zvfs_daemon_ready 60; then
    tail -n 20 "$log" "$log.stdout" >&2 2>/dev/null
    return 1
  fi
  return 0
}

# zvfs_daemon_stop [SECONDS]: stops the daemon started by zvfs_daemon_start: SIGTERM, wait
# (bounded), then SIGKILL. Returns the daemon's exit status when it stopped on SIGTERM.
zvfs_daemon_stop() {
  local limit=${1:-30} i rc=0
  [ -n "${ZVFSD_PID:-}" ] || return 0
  if kill -0 "$ZVFSD_PID" 2>/dev/null; then
    kill -TERM "$ZVFSD_PID" 2>/dev/null
    for ((i = 0; i < limit * 10; i++)); do
      kill -0 "$ZVFSD_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$ZVFSD_PID" 2>/dev/null; then
      echo "zvfs: daemon $ZVFSD_PID ignored SIGTERM for ${limit}s; killing it" >&2
      kill -KILL "$ZVFSD_PID" 2>/dev/null
      rc=1
    fi
  fi
  wait "$ZVFSD_PID" 2>/dev/null || rc=$?
  ZVFSD_PID=""
  return "$rc"
}

# zvfs_daemon_kill9: kills the daemon started by zvfs_daemon_start with SIGKILL (crash tests).
zvfs_daemon_kill9() {
  [ -n "${ZVFSD_PID:-}" ] || return 0
  kill -KILL "$ZVFSD_PID" 2>/dev/null
  wait "$ZVFSD_PID" 2>/dev/null
  ZVFSD_PID=""
  return 0
}

# zvfs_preload CMD...: runs CMD with libzvfs.so preloaded (ZVFS_ROOT must be set).
zvfs_preload() {
  LD_PRELOAD="$ZVFS_LIB${LD_PRELOAD:+:$LD_PRELOAD}" "$@"
}
