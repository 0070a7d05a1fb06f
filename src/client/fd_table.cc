// fd_table.cc — see fd_table.h.
#include "client/fd_table.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace zvfs::client {
namespace {

constexpr int kMaxTableSize = 1 << 20;
constexpr int kDefaultTableSize = 1 << 16;

pthread_mutex_t g_table_mu = PTHREAD_MUTEX_INITIALIZER;
OpenFile* g_live = nullptr;        // doubly linked
OpenFile* g_free = nullptr;        // singly linked through next
std::atomic<int> g_live_count{0};  // written under g_table_mu, read without it
std::atomic<int> g_high_water{0};

void live_unlink(OpenFile* of) {
  if (of->prev != nullptr) of->prev->next = of->next;
  if (of->next != nullptr) of->next->prev = of->prev;
  if (g_live == of) g_live = of->next;
  of->next = of->prev = nullptr;
  g_live_count.fetch_sub(1, std::memory_order_relaxed);
}

// Releases one slot's reference; g_table_mu held.
Released release_locked(int fd, OpenFile* of) {
  Released r;
  r.of = of;
  if (--of->refs <= 0) {
    r.last = true;
    live_unlink(of);
    return r;
  }
  if (of->remembered_fd == fd) {
    int hw = g_high_water.load(std::memory_order_relaxed);
    for (int i = 0; i < hw; ++i) {
      if (i != fd && g_fd_table[i].load(std::memory_order_relaxed) == of) {
        of->remembered_fd = i;
        r.new_fd = i;
        break;
      }
    }
  }
  return r;
}

}  // namespace

std::atomic<OpenFile*>* g_fd_table = nullptr;
int g_fd_table_size = 0;

bool fd_table_init(int size_override) {
  int size = size_override;
  if (size <= 0) {
    struct rlimit rl;
    size = kDefaultTableSize;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      rlim_t want = rl.rlim_max;
      if (want == RLIM_INFINITY || want > static_cast<rlim_t>(kMaxTableSize)) want = kMaxTableSize;
      if (want < static_cast<rlim_t>(1024)) want = 1024;
      size = static_cast<int>(want);
    }
  }
  size_t bytes = sizeof(std::atomic<OpenFile*>) * static_cast<size_t>(size);
  // Anonymous zero pages: untouched slots cost nothing.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  g_fd_table = static_cast<std::atomic<OpenFile*>*>(p);
  g_fd_table_size = size;
  return true;
}

OpenFile* of_alloc(int handle, dev_t dev, ino_t ino) {
  fd_table_lock();
  OpenFile* of = g_free;
  if (of != nullptr) g_free = of->next;
  fd_table_unlock();
  if (of == nullptr) {
    of = static_cast<OpenFile*>(calloc(1, sizeof(OpenFile)));
    if (of == nullptr) return nullptr;
  }
  of->handle = handle;
  of->refs = 0;
  of->remembered_fd = -1;
  of->dev = dev;
  of->ino = ino;
  of->writable = false;
  of->readable = false;
  of->status_flags.store(0, std::memory_order_relaxed);
  pthread_mutex_init(&of->pos_lock, nullptr);
  of->next = of->prev = nullptr;
  return of;
}

void of_free(OpenFile* of) {
  if (of == nullptr) return;
  fd_table_lock();
  of->handle = -1;
  of->prev = nullptr;
  of->next = g_free;
  g_free = of;
  fd_table_unlock();
}

namespace {

// fd_install with g_table_mu held.
void install_locked(int fd, OpenFile* of, Released* displaced) {
  if (of->refs == 0) {
    of->next = g_live;
    of->prev = nullptr;
    if (g_live != nullptr) g_live->prev = of;
    g_live = of;
    g_live_count.fetch_add(1, std::memory_order_relaxed);
    of->remembered_fd = fd;
  }
  ++of->refs;
  OpenFile* old = g_fd_table[fd].exchange(of, std::memory_order_acq_rel);
  if (old != nullptr && old != of) *displaced = release_locked(fd, old);
  if (old == of) --of->refs;  // slot already pointed here: no new reference
  int hw = g_high_water.load(std::memory_order_relaxed);
  if (fd + 1 > hw) g_high_water.store(fd + 1, std::memory_order_relaxed);
}

}  // namespace

void fd_install(int fd, OpenFile* of, Released* displaced) {
  *displaced = Released{};
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(g_fd_table_size)) return;
  fd_table_lock();
  install_locked(fd, of, displaced);
  fd_table_unlock();
}

bool fd_install_if_shared(int fd, dev_t dev, ino_t ino, Released* displaced) {
  *displaced = Released{};
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(g_fd_table_size)) return false;
  const pid_t self = getpid();
  fd_table_lock();
  OpenFile* match = nullptr;
  for (OpenFile* of = g_live; of != nullptr && match == nullptr; of = of->next) {
    if (of->dev != dev || of->ino != ino || of->remembered_fd == fd) continue;
    if (syscall(SYS_kcmp, self, self, 0 /* KCMP_FILE */, of->remembered_fd, fd) == 0) match = of;
  }
  if (match != nullptr) install_locked(fd, match, displaced);
  fd_table_unlock();
  return match != nullptr;
}

Released fd_remove(int fd) {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(g_fd_table_size)) return {};
  fd_table_lock();
  Released r;
  OpenFile* old = g_fd_table[fd].exchange(nullptr, std::memory_order_acq_rel);
  if (old != nullptr) r = release_locked(fd, old);
  fd_table_unlock();
  return r;
}

int fd_find_inode_handle(dev_t dev, ino_t ino, bool need_write) {
  int h = -1;
  for_each_live([&](OpenFile* of) {
    if (h < 0 && of->dev == dev && of->ino == ino && (of->writable || !need_write)) h = of->handle;
  });
  return h;
}

int live_open_files() {
  return g_live_count.load(std::memory_order_relaxed);
}

int fd_high_water() {
  return g_high_water.load(std::memory_order_acquire);
}

OpenFile* live_list_head() {
  return g_live;
}

void fd_table_lock() {
  pthread_mutex_lock(&g_table_mu);
}
void fd_table_unlock() {
  pthread_mutex_unlock(&g_table_mu);
}

void fd_table_after_fork_child() {
  pthread_mutex_init(&g_table_mu, nullptr);
  for (OpenFile* of = g_live; of != nullptr; of = of->next)
    pthread_mutex_init(&of->pos_lock, nullptr);
}

}  // namespace zvfs::client
