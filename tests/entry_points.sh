#!/usr/bin/env bash
# entry_points.sh — the commands the README tells a new user to run exist and are executable as
# written (`scripts/quickstart.sh`, `scripts/test-all.sh`, `bench/run.sh`, `.ci/run`). A script
# committed without its executable bit fails on a fresh clone with "Permission denied".
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bad=0
for f in scripts/quickstart.sh scripts/test-all.sh bench/run.sh .ci/run; do
  if [ ! -f "$top/$f" ]; then
    echo "missing: $f"
    bad=1
  elif [ ! -x "$top/$f" ]; then
    echo "not executable: $f"
    bad=1
  fi
  grep -q "$f" "$top/README.md" "$top/bench/README.md" 2>/dev/null || [ "$f" = .ci/run ] ||
    { echo "not named in the README: $f"; bad=1; }
done
[ $bad = 0 ] && echo "PASS"
exit $bad
