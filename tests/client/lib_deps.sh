#!/usr/bin/env bash
# lib_deps.sh LIB — libzvfs.so needs nothing but the C library at load time, and exports no
# C++ symbol (no mangled name, nothing of the C++ runtime). Loading libstdc++ (and libm,
# libgcc_s) into every preloaded program cost about 0.6 ms per exec on the 2-vCPU machine of
# the benchmarks (a shell script under `zvfs run` pays it for each command); the library links
# the few pieces of the C++ runtime it uses statically instead, hidden, so a C++ program's own
# runtime (its operator new, its exception handling) never meets them.
set -u
lib=$1
bad=0
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || { echo "no NEEDED entries read from $lib"; exit 1; }
for n in $needed; do
  case "$n" in
    libc.so.* | ld-linux*.so.*) ;;
    *) echo "libzvfs.so needs $n at load time"; bad=1 ;;
  esac
done
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^(_Z|__cxa_|__gxx_|_Unwind_)' || true)
if [ -n "$exported" ]; then
  echo "libzvfs.so exports C++ runtime symbols:"
  echo "$exported" | head -20
  bad=1
fi
[ $bad = 0 ] && echo "PASS: needs only $(echo $needed | tr '\n' ' ')"
exit $bad
