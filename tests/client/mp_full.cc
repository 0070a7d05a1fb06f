// mp_full.cc — zvfs_mptest's scenarios at the limits of space and size, through libzvfs.so.
//
//   pool-full FILE   write FILE until the pool refuses: the error is ENOSPC (never EIO), what
//                    was accepted syncs and reads back; then space given back by ftruncate, and
//                    by unlink + close, is usable at once, as a file system that frees at once
//                    would let a database use it (the pool frees it a few commits later, and
//                    the daemon commits those when a writer needs the space).
//   pool-full-rewrite FILE
//                    fill the pool with zeros written into FILE (as PostgreSQL extends a table
//                    and fills a new WAL segment): zeros take space, so the pool fills; then
//                    every 8 KiB page of them is written with data, twice, on the full pool
//                    (rewrites free what they take), while growing FILE is still refused;
//                    a new file can be created there, its data is refused.
//   fallocate-room FILE
//                    posix_fallocate and fallocate(KEEP_SIZE) of more than the pool holds fail
//                    with ENOSPC and change nothing; of what fits, they succeed (the size grows
//                    without KEEP_SIZE only) and set the space aside: with another file filling
//                    the pool, writes into FILE's range still go in.
//   fs-limit FILE    FILE grows only as far as its placeholder's file system allows any file
//                    (found with lseek on a plain file in $ZVFS_TEST_OUTSIDE, on the same file
//                    system): a write at the limit gets EFBIG, one across it is short, and the
//                    size, lseek to the end and the bytes below the limit are right.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/max_offset.h"
#include "mp_check.h"
#include "mp_cmds.h"

namespace zvfs::test {
namespace {

constexpr size_t kChunk = 1 << 20;

void fill_chunk(std::vector<char>& buf, uint64_t n) {
  for (size_t i = 0; i < buf.size(); i += 8) {
    uint64_t v = n * 0x9E3779B97F4A7C15ull + i;
    memcpy(&buf[i], &v, 8);
  }
}

// Writes numbered chunks from offset 0 until a write fails; returns how many fit whole. The
// failure must be ENOSPC (a short write first is allowed, then ENOSPC).
uint64_t write_until_full(int fd) {
  std::vector<char> buf(kChunk);
  for (uint64_t n = 0;; ++n) {
    fill_chunk(buf, n);
    ssize_t w = pwrite(fd, buf.data(), kChunk, static_cast<off_t>(n * kChunk));
    if (w == static_cast<ssize_t>(kChunk)) continue;
    if (w >= 0) {  // part of it fitted: the rest must be refused
      w = pwrite(fd, buf.data() + w, kChunk - static_cast<size_t>(w),
                 static_cast<off_t>(n * kChunk) + w);
      CHECK(w < 0);
    }
    CHECK(errno == ENOSPC);
    return n;
  }
}

void expect_chunks(int fd, uint64_t first, uint64_t count) {
  std::vector<char> want(kChunk), got(kChunk);
  for (uint64_t n = first; n < first + count; ++n) {
    fill_chunk(want, n);
    CHECK(pread(fd, got.data(), kChunk, static_cast<off_t>(n * kChunk)) ==
          static_cast<ssize_t>(kChunk));
    CHECK(memcmp(want.data(), got.data(), kChunk) == 0);
  }
}

// Writes chunks [0, count) and syncs them; every write must succeed.
void write_chunks(int fd, uint64_t count) {
  std::vector<char> buf(kChunk);
  for (uint64_t n = 0; n < count; ++n) {
    fill_chunk(buf, n);
    CHECK(pwrite(fd, buf.data(), kChunk, static_cast<off_t>(n * kChunk)) ==
          static_cast<ssize_t>(kChunk));
  }
  CHECK(fsync(fd) == 0);
}

int cmd_pool_full(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  const uint64_t fitted = write_until_full(fd);
  CHECK(fitted >= 64);  // the pool is 256 MiB: most of it fits
  CHECK(fsync(fd) == 0);
  expect_chunks(fd, 0, fitted);

  // Truncated away, the space is usable at once: half of it, written again.
  CHECK(ftruncate(fd, 0) == 0);
  write_chunks(fd, fitted / 2);
  expect_chunks(fd, 0, fitted / 2);

  // Full again; then the file goes (unlinked, then closed) and a new one takes its place.
  CHECK(write_until_full(fd) >= fitted / 2);
  CHECK(unlink(file) == 0);
  CHECK(close(fd) == 0);
  std::string other = std::string(file) + ".next";
  fd = open(other.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  write_chunks(fd, fitted / 2);
  expect_chunks(fd, 0, fitted / 2);
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_pool_full_rewrite(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::vector<char> zeros(kChunk, 0);
  uint64_t size = 0;
  for (int i = 0;; i++) {
    CHECK(i < 1024);  // the pool is 256 MiB: zeros that took no space would never fill it
    ssize_t w = pwrite(fd, zeros.data(), kChunk, static_cast<off_t>(size));
    if (w < 0) {
      CHECK(errno == ENOSPC);
      break;
    }
    size += static_cast<uint64_t>(w);
  }
  CHECK(size >= 64 * kChunk);
  CHECK(fsync(fd) == 0);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == size);
  CHECK(static_cast<uint64_t>(st.st_blocks) * 512 >= size);  // allocated, not a hole
  // A new file can be created on the full pool (as on a full ext4); its data is refused.
  std::string other = std::string(file) + ".new";
  int nfd = open(other.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
  CHECK(nfd >= 0);
  errno = 0;
  CHECK(pwrite(nfd, zeros.data(), kChunk, 0) < 0 && errno == ENOSPC);
  CHECK(close(nfd) == 0 && unlink(other.c_str()) == 0);
  constexpr size_t kPage = 8192;
  std::vector<char> page(kPage), got(kPage);
  auto fill_page = [&](std::vector<char>& b, int pass, uint64_t off) {
    for (size_t i = 0; i < kPage; i += 8) {
      uint64_t v = (off + i) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(pass);
      memcpy(&b[i], &v, 8);
    }
  };
  for (int pass = 1; pass <= 2; pass++) {
    for (uint64_t off = 0; off + kPage <= size; off += kPage) {
      fill_page(page, pass, off);
      CHECK(pwrite(fd, page.data(), kPage, static_cast<off_t>(off)) == static_cast<ssize_t>(kPage));
    }
    CHECK(fsync(fd) == 0);
  }
  errno = 0;
  CHECK(pwrite(fd, zeros.data(), kChunk, static_cast<off_t>(size)) < 0 && errno == ENOSPC);
  for (uint64_t off = 0; off + kPage <= size; off += kPage) {
    fill_page(page, 2, off);
    CHECK(pread(fd, got.data(), kPage, static_cast<off_t>(off)) == static_cast<ssize_t>(kPage));
    CHECK(memcmp(page.data(), got.data(), kPage) == 0);
  }
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_fallocate_room(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  const off_t too_much = 1ll << 30;  // the pool is 256 MiB
  CHECK(posix_fallocate(fd, 0, too_much) == ENOSPC);
  errno = 0;
  CHECK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, too_much) < 0 && errno == ENOSPC);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == 0);
  CHECK(posix_fallocate(fd, 0, 16 << 20) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 16 << 20);
  CHECK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 32 << 20) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 16 << 20);
  // A range set aside already takes nothing more.
  CHECK(posix_fallocate(fd, (16 << 20) - 4096, 8 << 20) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == (24 << 20) - 4096);
  // 4 MiB more past the 32 that no write will take.
  CHECK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 32 << 20, 4 << 20) == 0);
  // The set-aside holds: another file fills the rest of the pool, and FILE's 32 MiB (written
  // in place and past the size) still go in.
  std::string other = std::string(file) + ".filler";
  int ofd = open(other.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(ofd >= 0);
  std::vector<char> buf(kChunk);
  fill_chunk(buf, 7);
  uint64_t filled = 0;
  for (;; filled += kChunk) {
    ssize_t w = pwrite(ofd, buf.data(), kChunk, static_cast<off_t>(filled));
    if (w < 0) {
      CHECK(errno == ENOSPC);
      break;
    }
  }
  CHECK(filled > (64u << 20));
  for (uint64_t off = 0; off < (32u << 20); off += kChunk)
    CHECK(pwrite(fd, buf.data(), kChunk, static_cast<off_t>(off)) == static_cast<ssize_t>(kChunk));
  CHECK(fsync(fd) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 32 << 20);
  CHECK(pwrite(ofd, buf.data(), kChunk, static_cast<off_t>(filled)) < 0 && errno == ENOSPC);
  // The file's last close gives back what no write took: the filler gets those 4 MiB.
  CHECK(close(fd) == 0);
  CHECK(pwrite(ofd, buf.data(), kChunk, static_cast<off_t>(filled)) ==
        static_cast<ssize_t>(kChunk));
  CHECK(close(ofd) == 0);
  return 0;
}

int cmd_fs_limit(const char* file) {
  const char* outside = getenv("ZVFS_TEST_OUTSIDE");
  CHECK(outside != nullptr);
  std::string plain = std::string(outside) + "/limit-probe";
  int pfd = open(plain.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(pfd >= 0);
  const uint64_t max = probe_max_offset(pfd);
  CHECK(close(pfd) == 0 && unlink(plain.c_str()) == 0);
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  const char data[10] = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};
  errno = 0;
  if (max > (1ull << 50)) {  // beyond the engine's own limit (1 PiB): that one answers
    CHECK(pwrite(fd, data, 10, static_cast<off_t>(1ull << 50)) < 0 && errno == EFBIG);
    CHECK(close(fd) == 0);
    return 0;
  }
  CHECK(pwrite(fd, data, 10, static_cast<off_t>(max)) < 0 && errno == EFBIG);
  CHECK(pwrite(fd, data, 10, static_cast<off_t>(max - 4)) == 4);  // across it: short
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == max);
  CHECK(lseek(fd, 0, SEEK_END) == static_cast<off_t>(max));
  char got[4];
  CHECK(pread(fd, got, 4, static_cast<off_t>(max - 4)) == 4 && memcmp(got, data, 4) == 0);
  errno = 0;
  CHECK(ftruncate(fd, static_cast<off_t>(max) + 1) < 0 && errno == EFBIG);
  CHECK(ftruncate(fd, 0) == 0 && close(fd) == 0);
  return 0;
}

}  // namespace

int run_full_command(const std::string& c, int, char** argv) {
  if (c == "pool-full") return cmd_pool_full(argv[2]);
  if (c == "pool-full-rewrite") return cmd_pool_full_rewrite(argv[2]);
  if (c == "fallocate-room") return cmd_fallocate_room(argv[2]);
  if (c == "fs-limit") return cmd_fs_limit(argv[2]);
  return -1;
}

}  // namespace zvfs::test
