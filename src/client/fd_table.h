// fd_table.h — which of the process's descriptors are ZVFS files, and their open-file objects.
//
// The application's descriptor is the real Linux one. For the few that name ZVFS files, a table
// indexed by fd (sized from RLIMIT_NOFILE, mapped once at start-up) points to an OpenFile: one
// per open file description (OFD) in this process, holding the daemon handle. dup'd descriptors
// share it (refs counts the table slots pointing at it); the handle is detached at the last
// close. `remembered_fd` is the one descriptor the IPC session was told about (ipc::set_fd moves
// it when that descriptor goes away while others remain).
//
// Concurrency. Readers (every read/write/... hook) do one acquire load of table[fd]: a call on
// a non-ZVFS descriptor pays a bounds check and that load. Writers (open/close/dup/...) hold
// g_table_mu. OpenFile memory is never returned to malloc: freed objects go to a free list and
// are reused, so a thread racing a close of the same fd (an application bug) sees a valid
// object, at worst with a stale handle that the daemon answers with EBADF.
//
// fork: the child inherits the table by memory copy; the atfork child handler re-initialises
// every lock (another thread may have held one at the fork). The IPC session re-opens the
// handles in the child from remembered_fd on its next call. exec: the table is gone, and the new
// image re-discovers inherited ZVFS descriptors at start-up (see init.cc).
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace zvfs::client {

struct OpenFile {
  int handle = -1;         // ipc handle of this OFD
  int refs = 0;            // table slots pointing here (g_table_mu)
  int remembered_fd = -1;  // descriptor known to the IPC session (g_table_mu)
  bool writable = false;   // opened for writing (the daemon refuses changes otherwise)
  bool readable = false;   // opened for reading (the access mode never changes)
  // The description's status flags as this process last knew them (F_GETFL at open, refreshed
  // by the library's fcntl(F_SETFL)); reads use them for O_DIRECT alignment only (file_ops.cc).
  std::atomic<int> status_flags;
  dev_t dev = 0;  // inode identity, for path-based calls (stat, truncate)
  ino_t ino = 0;
  pthread_mutex_t pos_lock;  // serialises offset updates of this OFD within the process
  OpenFile* next = nullptr;  // live list or free list (g_table_mu)
  OpenFile* prev = nullptr;
};

extern std::atomic<OpenFile*>* g_fd_table;
extern int g_fd_table_size;

// Maps the table (size from RLIMIT_NOFILE, capped); size_override > 0 for tests.
// Returns false if the mapping failed (then no descriptor is ever ZVFS).
bool fd_table_init(int size_override = 0);

// The hot path: nullptr for every descriptor that is not a ZVFS file.
inline OpenFile* fd_lookup(int fd) {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(g_fd_table_size)) return nullptr;
  return g_fd_table[fd].load(std::memory_order_acquire);
}

// What the caller must tell the IPC session after a slot was emptied (outside the lock).
struct Released {
  OpenFile* of = nullptr;  // nullptr: the slot was empty
  bool last = false;       // of lost its last slot: detach(of->handle), then of_free(of)
  int new_fd = -1;         // not last and the remembered fd moved: set_fd(of->handle, new_fd)
};

OpenFile* of_alloc(int handle, dev_t dev, ino_t ino);
void of_free(OpenFile* of);

// Points slot fd at of (refs + 1). If the slot held another OpenFile (a descriptor closed
// behind our back), that one is released and reported in *displaced.
void fd_install(int fd, OpenFile* of, Released* displaced);
// If a live OpenFile of inode (dev, ino) has a descriptor of the same open file description as
// fd (kcmp: a dup that arrived by another way, such as SCM_RIGHTS or inheritance), points slot
// fd at it as fd_install does and returns true.
bool fd_install_if_shared(int fd, dev_t dev, ino_t ino, Released* displaced);
// Empties slot fd.
Released fd_remove(int fd);
// Empties slots [first, last] (clamped to the table): calls fn(Released) for each.
template <class Fn>
void fd_remove_range(unsigned first, unsigned last, Fn&& fn);
// Every live OpenFile with this inode identity (g_table_mu held during fn).
template <class Fn>
void for_each_live(Fn&& fn);
// A handle of a live OpenFile for (dev, ino) (opened for writing if need_write), or -1.
int fd_find_inode_handle(dev_t dev, ino_t ino, bool need_write = false);
// Number of live OpenFiles (tests, diagnostics, a quick test before a search): takes no lock.
int live_open_files();
// Highest slot ever used + 1.
int fd_high_water();

void fd_table_lock();
void fd_table_unlock();
// atfork child: re-initialise every lock.
void fd_table_after_fork_child();

template <class Fn>
void fd_remove_range(unsigned first, unsigned last, Fn&& fn) {
  unsigned hw = static_cast<unsigned>(fd_high_water());
  if (hw == 0 || first >= hw) return;
  if (last >= hw) last = hw - 1;
  for (unsigned fd = first; fd <= last; ++fd) {
    if (g_fd_table[fd].load(std::memory_order_acquire) == nullptr) continue;
    Released r = fd_remove(static_cast<int>(fd));
    if (r.of != nullptr) fn(r);
  }
}

OpenFile* live_list_head();
template <class Fn>
void for_each_live(Fn&& fn) {
  fd_table_lock();
  for (OpenFile* of = live_list_head(); of != nullptr; of = of->next) fn(of);
  fd_table_unlock();
}

}  // namespace zvfs::client
