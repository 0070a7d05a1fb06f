// mp_fdpass.cc — zvfs_mptest's subcommand for descriptors passed over a Unix socket.
//
//   fd-pass FILE   a forked child that never opened FILE receives descriptors of it in
//                  SCM_RIGHTS messages (recvmsg, then recvmmsg): it reads and writes the blob
//                  through them and shares the sender's offset; a second copy of the same
//                  description shares it too; an O_PATH copy's fstat describes the blob; a pipe
//                  passed beside them works as before; a message read with syscall(SYS_recvmsg)
//                  brings a ZVFS descriptor too.
//   fd-getfd FILE  a process takes a forked child's descriptor of FILE with pidfd_getfd (the
//                  glibc wrapper and syscall()): it reads the blob and shares the child's offset.
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "mp_check.h"
#include "mp_cmds.h"

namespace zvfs::test {
namespace {

constexpr size_t kSize = 100000;

std::string pattern() {
  std::string d(kSize, '\0');
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<char>('A' + (i * 7 + i / 1000) % 26);
  return d;
}

void send_fds(int sock, int a, int b) {
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  int fds[2] = {a, b};
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  CHECK(sendmsg(sock, &msg, 0) == 1);
}

// The two descriptors of a received message.
void take_fds(msghdr& msg, int* a, int* b) {
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  CHECK(c != nullptr && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(2 * sizeof(int)));
  int fds[2];
  memcpy(fds, CMSG_DATA(c), sizeof fds);
  *a = fds[0];
  *b = fds[1];
}

int receiver(int sock) {
  const std::string data = pattern();
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(4 * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  CHECK(recvmsg(sock, &msg, 0) == 1);
  int f, pr;
  take_fds(msg, &f, &pr);

  // The sender left its offset at 0: read() continues from the shared offset.
  char buf[1000];
  CHECK(read(f, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf));
  CHECK(memcmp(buf, data.data(), sizeof buf) == 0);
  struct stat st;
  CHECK(fstat(f, &st) == 0 && st.st_size == static_cast<off_t>(kSize));
  CHECK(read(pr, buf, 5) == 5 && memcmp(buf, "PIPE!", 5) == 0);
  CHECK(pwrite(f, "CHILD", 5, 0) == 5);
  CHECK(fdatasync(f) == 0);

  // Second message through recvmmsg: an O_PATH descriptor and another copy of f's description.
  mmsghdr mm{};
  iovec iov2{&byte, 1};
  mm.msg_hdr.msg_iov = &iov2;
  mm.msg_hdr.msg_iovlen = 1;
  mm.msg_hdr.msg_control = ctl;
  mm.msg_hdr.msg_controllen = sizeof ctl;
  CHECK(recvmmsg(sock, &mm, 1, 0, nullptr) == 1 && mm.msg_len == 1);
  int p, f2;
  take_fds(mm.msg_hdr, &p, &f2);
  CHECK(fstat(p, &st) == 0);
  CHECK(st.st_size == static_cast<off_t>(kSize) &&
        st.st_blocks >= static_cast<blkcnt_t>(kSize / 512));
  CHECK(lseek(f2, 0, SEEK_CUR) == 1000);
  CHECK(read(f2, buf, 500) == 500 && memcmp(buf, data.data() + 1000, 500) == 0);
  CHECK(lseek(f, 0, SEEK_CUR) == 1500);
  // Closing one copy leaves the other working.
  CHECK(close(f2) == 0);
  CHECK(pread(f, buf, 5, 0) == 5 && memcmp(buf, "CHILD", 5) == 0);
  CHECK(close(f) == 0 && close(p) == 0 && close(pr) == 0);

  // Third message through syscall(SYS_recvmsg): a description of its own (offset 0) and the
  // O_PATH descriptor again.
  msg.msg_controllen = sizeof ctl;
  CHECK(syscall(SYS_recvmsg, sock, &msg, 0) == 1);
  int g;
  take_fds(msg, &g, &p);
  CHECK(read(g, buf, 15) == 15 && memcmp(buf, "CHILD", 5) == 0);
  CHECK(memcmp(buf + 5, data.data() + 5, 10) == 0);
  CHECK(close(g) == 0 && close(p) == 0);
  return 0;
}

int cmd_fd_pass(const char* file) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(sv[0]);
    _exit(receiver(sv[1]));
  }
  close(sv[1]);
  // Opened after the fork: the child gets these only through the socket.
  const std::string data = pattern();
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  int pp[2];
  CHECK(pipe(pp) == 0);
  CHECK(write(pp[1], "PIPE!", 5) == 5);
  send_fds(sv[0], fd, pp[0]);
  int opath = open(file, O_PATH);
  CHECK(opath >= 0);
  send_fds(sv[0], opath, fd);
  int own = open(file, O_RDONLY);
  CHECK(own >= 0);
  send_fds(sv[0], own, opath);
  CHECK(close(own) == 0);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // The child's reads moved this description's offset; its write reached the blob.
  CHECK(lseek(fd, 0, SEEK_CUR) == 1500);
  std::string back(kSize, '\0');
  CHECK(pread(fd, back.data(), back.size(), 0) == static_cast<ssize_t>(kSize));
  CHECK(memcmp(back.data(), "CHILD", 5) == 0);
  CHECK(memcmp(back.data() + 5, data.data() + 5, kSize - 5) == 0);
  CHECK(close(fd) == 0 && close(opath) == 0 && close(pp[0]) == 0 && close(pp[1]) == 0);
  close(sv[0]);
  return 0;
}

// glibc 2.36's <sys/pidfd.h> lacks C linkage in C++.
extern "C" int pidfd_getfd(int pidfd, int targetfd, unsigned int flags) noexcept;

int cmd_fd_getfd(const char* file) {
  const std::string data = pattern();
  int to_parent[2], to_child[2];
  CHECK(pipe(to_parent) == 0 && pipe(to_child) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(write(to_parent[1], &fd, sizeof fd) == sizeof fd);
    char go;
    CHECK(read(to_child[0], &go, 1) == 1);
    // The parent read 1000 bytes through its copies of this description.
    CHECK(lseek(fd, 0, SEEK_CUR) == 1000);
    _exit(0);
  }
  int target;
  CHECK(read(to_parent[0], &target, sizeof target) == sizeof target);
  // A descendant: allowed under Yama's ptrace_scope 1 as well.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  CHECK(pidfd >= 0);
  int f = pidfd_getfd(pidfd, target, 0);
  CHECK(f >= 0);
  int f2 = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target, 0));
  CHECK(f2 >= 0);
  char buf[600];
  CHECK(read(f, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf));
  CHECK(memcmp(buf, data.data(), sizeof buf) == 0);
  CHECK(read(f2, buf, 400) == 400 && memcmp(buf, data.data() + 600, 400) == 0);
  struct stat st;
  CHECK(fstat(f2, &st) == 0 && st.st_size == static_cast<off_t>(kSize));
  CHECK(write(to_child[1], "g", 1) == 1);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(close(f) == 0 && close(f2) == 0 && close(pidfd) == 0);
  for (int p : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(p);
  return 0;
}

}  // namespace

int run_fdpass_command(const std::string& c, int, char** argv) {
  if (c == "fd-pass") return cmd_fd_pass(argv[2]);
  if (c == "fd-getfd") return cmd_fd_getfd(argv[2]);
  return -1;
}

}  // namespace zvfs::test
