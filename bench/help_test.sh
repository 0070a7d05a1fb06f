#!/usr/bin/env bash
# help_test.sh — `bench/run.sh --help` prints its header comment, every option in it, and
# nothing of the script below it (it used to print the first line of code).
set -u
out=$(bash "$(dirname "$0")/run.sh" --help) || { echo "run.sh --help failed"; exit 1; }
fail=0
for opt in --reps --seconds --quick --only --no-zvfs --publish --no-install --preallocate; do
  grep -q -- "^  $opt" <<<"$out" || { echo "--help does not list $opt"; fail=1; }
done
if grep -q -e '^set ' -e '^top=' <<<"$out"; then
  echo "--help prints script code:"
  grep -e '^set ' -e '^top=' <<<"$out"
  fail=1
fi
tail -n 1 <<<"$out" | grep -q 'ZVFS_BENCH_CACHE' || { echo "--help ends early"; fail=1; }
exit $fail
