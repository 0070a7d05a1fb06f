#!/usr/bin/env bash
# test-all.sh — runs every test of ZVFS, from a fresh Debian 12 machine to one summary line.
#
#   1. installs what is missing from Debian's registry (only as root, only if something is),
#   2. configures and builds a normal build with warnings as errors (build/ci),
#   3. configures and builds an AddressSanitizer + UBSan build (build/ci-san),
#   4. runs ctest on both (everything not labelled `long`), which includes the application
#      tests of tests/apps (fio, SQLite, RocksDB, PostgreSQL through libzvfs.so) in the
#      normal build; a preloaded sanitizer library cannot be loaded into uninstrumented
#      programs, so the sanitizer build runs the unit, daemon and library tests (the library's
#      own exercisers, instrumented, with the sanitizer runtimes preloaded ahead of it),
#   5. builds the request decoder's libFuzzer target with clang (build/ci-fuzz) and runs it
#      for 20 s (counted as one test),
#   6. prints `N passed, N failed` alone on the last line and exits non-zero on any failure
#      (a build that fails counts as one failed test).
#
# Options: --no-install (never call apt-get), --no-san (skip the sanitizer build), --long (also
# run tests labelled `long`). Environment: ZVFS_JOBS (default 2), ZVFS_BUILD_DIR and
# ZVFS_SAN_BUILD_DIR (default build/ci and build/ci-san).
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 2
# shellcheck source=lib/deps.sh
. "$top/scripts/lib/deps.sh"

install=1 san=1 long=0
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    --no-san) san=0 ;;
    --long) long=1 ;;
    -h | --help)
      sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "test-all: unknown option $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

jobs=${ZVFS_JOBS:-2}
build_dir=${ZVFS_BUILD_DIR:-$top/build/ci}
san_dir=${ZVFS_SAN_BUILD_DIR:-$top/build/ci-san}
fuzz_dir=$top/build/ci-fuzz
log_dir=$top/build/ci-logs
[ -n "${ZVFS_BUILD_DIR:-}" ] && log_dir=$build_dir-logs
mkdir -p "$log_dir"

passed=0 failed=0 skipped=0
failures=()
started=$(date +%s)

section() { printf '\n==== %s (%ds)\n' "$*" "$(($(date +%s) - started))"; }

fail() {
  failed=$((failed + 1))
  failures+=("$1")
}

# build NAME DIR CMAKE-ARGS...: configure and build; on failure count one failed test.
build() {
  local name=$1 dir=$2
  shift 2
  section "configure + build: $name ($dir)"
  if ! cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$log_dir/$name-configure.log" 2>&1; then
    cat "$log_dir/$name-configure.log"
    fail "configure $name"
    return 1
  fi
  if ! cmake --build "$dir" -j"$jobs" >"$log_dir/$name-build.log" 2>&1; then
    # The first errors are what matter; the whole log stays on disk.
    grep -E -m 40 -B2 -A6 'error|Error' "$log_dir/$name-build.log" || tail -n 60 "$log_dir/$name-build.log"
    echo "(full log: $log_dir/$name-build.log)"
    fail "build $name"
    return 1
  fi
  echo "built $name"
}

# run_ctest NAME DIR: runs ctest and adds its per-test results to the totals.
run_ctest() {
  local name=$1 dir=$2 log="$log_dir/$1-ctest.log"
  local args=(--test-dir "$dir" --output-on-failure -j"$jobs" --no-tests=ignore)
  [ "$long" -eq 1 ] || args+=(-LE long)
  section "ctest: $name"
  ctest "${args[@]}" </dev/null 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]} p f s
  # One line per finished test: "  3/12 Test  #3: name .....   Passed    0.01 sec".
  p=$(grep -cE '^ *[0-9]+/[0-9]+ +Test +#[0-9]+: .* Passed ' "$log")
  s=$(grep -cE '^ *[0-9]+/[0-9]+ +Test +#[0-9]+: .*\*\*\*Skipped' "$log")
  f=$(grep -E '^ *[0-9]+/[0-9]+ +Test +#[0-9]+: ' "$log" | grep -vE ' Passed |\*\*\*Skipped' |
    sed -E 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: ([^ ]+).*/\1/')
  passed=$((passed + p))
  skipped=$((skipped + s))
  local t
  for t in $f; do fail "$name: $t"; done
  # ctest itself failing without a failed test line (a crash, a bad test file) is a failure too.
  if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
    fail "$name: ctest exited non-zero"
  fi
}

if [ "$install" -eq 1 ]; then
  section "dependencies"
  zvfs_install_missing "${ZVFS_DEPS_BUILD[@]}" "${ZVFS_DEPS_APPS[@]}" "${ZVFS_DEPS_FUZZ[@]}" ||
    echo "test-all: some packages are missing; the steps that need them will fail"
fi

# The tests set up every daemon and client themselves: a configuration file of this machine's
# (/etc/zvfs/zvfs.conf) must not change what they run.
export ZVFS_CONFIG=
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if build ci "$build_dir" -DZVFS_WERROR=ON -DZVFS_SANITIZE=OFF -DZVFS_TESTS=ON; then
  run_ctest ci "$build_dir"
fi
if [ "$san" -eq 1 ]; then
  if build ci-san "$san_dir" -DZVFS_WERROR=ON -DZVFS_SANITIZE=ON -DZVFS_TESTS=ON; then
    run_ctest ci-san "$san_dir"
  fi
fi

# The libFuzzer target of the daemon's request decoder: clang only, so a build of its own with
# just that target, then a bounded run (a crash or a sanitizer report fails it).
section "libFuzzer: request decoder"
fuzz_log=$log_dir/fuzz.log
if ! command -v clang++ >/dev/null; then
  echo "clang++ is not installed"
  fail "fuzz: no clang++"
elif ! cmake -S "$top" -B "$fuzz_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DZVFS_FUZZ=ON -DZVFS_TESTS=OFF >"$fuzz_log" 2>&1 ||
  ! cmake --build "$fuzz_dir" --target ipc_decoder_fuzz -j"$jobs" >>"$fuzz_log" 2>&1; then
  tail -n 40 "$fuzz_log"
  fail "build fuzz"
elif "$fuzz_dir/src/ipc/ipc_decoder_fuzz" -max_total_time=20 -seed=1 >>"$fuzz_log" 2>&1; then
  grep -E '^Done|stat::number_of_executed_units' "$fuzz_log" | tail -n 1
  echo "ipc_decoder_fuzz: passed (20 s)"
  passed=$((passed + 1))
else
  tail -n 40 "$fuzz_log"
  fail "ipc_decoder_fuzz"
fi

section "summary"
echo "logs: $log_dir"
[ "$skipped" -gt 0 ] && echo "skipped: $skipped (see the ctest output above for why)"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
