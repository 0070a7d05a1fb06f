// thread_name.h — names the calling thread, as `top -H`, `ps -L`, perf and /proc show it.
//
// Every long-lived thread of the engine and the daemon names itself at its start (zvfs-* in
// the engine, zvfsd-* in the daemon; a session's threads carry their client's pid), so that a
// user who sees a busy thread knows what it is. Best effort: the kernel keeps 15 bytes, longer
// names are cut, and a failure changes nothing else.
#pragma once

#include <pthread.h>

#include <cstdio>

namespace zvfs {

inline void name_this_thread(const char* name) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s", name);
  (void)pthread_setname_np(pthread_self(), buf);
}

}  // namespace zvfs
