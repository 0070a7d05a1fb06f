// client_diag.h — client-side calls beyond client.h, for the command line, tests and benchmarks.
//
// null_request() is one data-path round trip that touches no blob (measures the IPC floor).
// The admin_* calls open their own short-lived control connection (no shared memory), so the
// command line can ask a daemon for statistics or a scrub without a data session.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ipc/protocol.h"

namespace zvfs::ipc {

int null_request();

// How many times this process's session has rung the doorbell so far (woken a sleeping
// daemon worker), or -errno. Tests check the workers' polling with it.
int64_t doorbell_rings();

// One request/reply on a fresh control connection to socket_path (nullptr: the default).
// Returns the reply status (>= 0) or -errno; the reply body is copied into rep (cap bytes) and
// its length stored in *rep_len.
int admin_call(const char* socket_path, Op op, const void* body, uint32_t body_len, void* rep,
               size_t cap, size_t* rep_len, int timeout_ms);

}  // namespace zvfs::ipc
