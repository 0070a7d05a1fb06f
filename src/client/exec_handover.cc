// exec_handover.cc — see exec_handover.h.
#include "client/exec_handover.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/fd_table.h"
#include "client/real.h"
#include "client/zlog.h"
#include "ipc/client.h"
#include "ipc/sock.h"

namespace zvfs::client {
namespace {

constexpr char kVar[] = "ZVFS_SESSION_FD";
thread_local char t_entry[64];
// Hand-overs in progress (threads spawning at once) and the socket they keep inheritable: the
// first makes it inheritable, the last one to finish close-on-exec again (g_handover_mu).
pthread_mutex_t g_handover_mu = PTHREAD_MUTEX_INITIALIZER;
int g_handovers = 0;
int g_handed_fd = -1;

// Does a ZVFS descriptor stay open across exec?
bool zvfs_fd_survives_exec() {
  int hw = fd_high_water();
  for (int fd = 0; fd < hw; ++fd) {
    if (fd_lookup(fd) == nullptr) continue;
    int fl = REAL(fcntl)(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC) == 0) return true;
  }
  return false;
}

}  // namespace

const char* exec_handover_prepare() {
  if (g_fd_table == nullptr) return nullptr;
  int saved = errno;
  int sock = -1;
  const char* result = nullptr;
  if (zvfs_fd_survives_exec() && ipc::owned_fds(&sock, 1) == 1) {
    pthread_mutex_lock(&g_handover_mu);
    if ((g_handovers > 0 && g_handed_fd == sock) || REAL(fcntl)(sock, F_SETFD, 0) == 0) {
      ++g_handovers;
      g_handed_fd = sock;
      snprintf(t_entry, sizeof t_entry, "%s=%d", kVar, sock);
      result = t_entry;
    }
    pthread_mutex_unlock(&g_handover_mu);
  }
  errno = saved;
  return result;
}

void exec_handover_failed() {
  int saved = errno;
  pthread_mutex_lock(&g_handover_mu);
  if (g_handovers > 0 && --g_handovers == 0 && g_handed_fd >= 0) {
    REAL(fcntl)(g_handed_fd, F_SETFD, FD_CLOEXEC);
    g_handed_fd = -1;
  }
  pthread_mutex_unlock(&g_handover_mu);
  errno = saved;
}

void exec_handover_after_fork_child() {
  pthread_mutex_init(&g_handover_mu, nullptr);
  g_handovers = 0;
  g_handed_fd = -1;
}

void exec_handover_finish() {
  const char* v = getenv(kVar);
  if (v == nullptr) return;
  int fd = atoi(v);
  unsetenv(kVar);
  // Only the daemon's socket that the previous image handed over: a socket, inheritable,
  // connected to the daemon's address.
  struct stat st;
  sockaddr_un peer{};
  socklen_t len = sizeof peer;
  int fl = fd >= 3 ? REAL(fcntl)(fd, F_GETFD) : -1;
  if (fl < 0 || (fl & FD_CLOEXEC) != 0 || REAL(fstat)(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
      peer.sun_family != AF_UNIX ||
      strncmp(peer.sun_path, ipc::default_socket_path(), sizeof peer.sun_path) != 0) {
    zlog("%s=%s does not name the daemon's socket: left alone", kVar, v);
    return;
  }
  REAL(close)(fd);
}

int exec_handover_setenv(const char* entry) {
  const char* eq = strchr(entry, '=');
  return eq == nullptr ? -1 : setenv(kVar, eq + 1, 1);
}

void exec_handover_unsetenv() {
  int saved = errno;
  unsetenv(kVar);
  errno = saved;
}

char** env_with_entry(char* const envp[], const char* entry) {
  size_t n = 0;
  while (envp != nullptr && envp[n] != nullptr) ++n;
  auto** out = static_cast<char**>(malloc((n + 2) * sizeof(char*)));
  if (out == nullptr) return nullptr;
  size_t k = 0;
  size_t var_len = sizeof kVar - 1;
  for (size_t i = 0; i < n; ++i)
    if (strncmp(envp[i], kVar, var_len) != 0 || envp[i][var_len] != '=') out[k++] = envp[i];
  out[k++] = const_cast<char*>(entry);
  out[k] = nullptr;
  return out;
}

}  // namespace zvfs::client
