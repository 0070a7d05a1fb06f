#!/usr/bin/env bash
# help_test.sh ZVFS — `zvfs --help` names each command once, and every command it names answers
# its own `--help` with a usage text and exit code 0 (without touching a pool or a daemon).
set -u
zvfs=$1
bad=0
help=$("$zvfs" --help) || { echo "zvfs --help failed"; exit 1; }
# Command lines: two spaces, a lower-case word, at least two spaces, a description.
cmds=$(printf '%s\n' "$help" | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p')
[ -n "$cmds" ] || { echo "no commands in zvfs --help"; exit 1; }
dups=$(printf '%s\n' "$cmds" | sort | uniq -d)
[ -z "$dups" ] || { echo "listed more than once in zvfs --help: $dups"; bad=1; }
for c in $cmds; do
  out=$("$zvfs" "$c" --help 2>&1)
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "zvfs $c --help: exit code $rc"
    bad=1
  elif ! printf '%s\n' "$out" | grep -qi "usage"; then
    echo "zvfs $c --help: no usage line"
    bad=1
  fi
done
[ $bad = 0 ] && echo "PASS ($(echo $cmds | wc -w) commands)"
exit $bad
