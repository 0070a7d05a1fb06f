# shellcheck shell=bash
# deps.sh — install what ZVFS needs from Debian's package registry, only what is missing.
#
# Sourced by test-all.sh, quickstart.sh and bench/run.sh. Works as root on a fresh Debian 12
# with no network except Debian's mirrors; runs `apt-get update` at most once per call and
# not at all when everything is already installed. As a non-root user it only reports what is
# missing (the build then says which piece it could not find).

# Packages the build and the unit tests need.
ZVFS_DEPS_BUILD=(build-essential cmake pkg-config liburing-dev libaio-dev libxxhash-dev
  libzstd-dev liblz4-dev libgtest-dev libbenchmark-dev)
# Programs the application tests drive.
ZVFS_DEPS_APPS=(fio rocksdb-tools sqlite3 attr postgresql postgresql-contrib python3 procps
  util-linux coreutils)
# The compiler of the request decoder's libFuzzer target (libFuzzer ships with clang only).
ZVFS_DEPS_FUZZ=(clang libclang-rt-dev)
# What the benchmark suite draws its chart with.
ZVFS_DEPS_BENCH=(python3-matplotlib)

# zvfs_pkg_installed PKG: true when dpkg knows PKG as installed.
zvfs_pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# zvfs_install_missing PKG...: installs the missing ones; returns non-zero if any is still missing.
zvfs_install_missing() {
  local missing=() p
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system; install by hand: $*" >&2
    return 0
  fi
  for p in "$@"; do
    zvfs_pkg_installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages (run as root to install them): ${missing[*]}" >&2
    return 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get update -qq; then
    echo "deps: apt-get update failed" >&2
  fi
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null; then
    echo "deps: apt-get install failed for: ${missing[*]}" >&2
    return 1
  fi
  return 0
}
