// test_files.h — a temporary directory, whole-file writes and this process's thread names, for
// unit tests only.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace zvfs::testing {

// A fresh directory under /tmp, removed with everything in it when the object goes.
class TempDir {
 public:
  explicit TempDir(const char* tag) {
    std::string tmpl = std::string("/tmp/zvfs-") + tag + "-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) (void)system(("rm -rf '" + path_ + "'").c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Replaces the file at path with text. True on success.
inline bool write_file(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return close(fd) == 0 && ok;
}

// Calls fn(thread id, name) for each thread of this process (/proc/self/task/*/comm).
template <class Fn>
void for_each_thread(Fn fn) {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string n;
    if (std::getline(f, n)) fn(std::atol(e->d_name), n);
  }
  closedir(d);
}

// The names of this process's threads.
inline std::vector<std::string> thread_names() {
  std::vector<std::string> names;
  for_each_thread([&](long, const std::string& n) { names.push_back(n); });
  return names;
}

// The ids of this process's threads named `name` now.
inline std::set<long> threads_named(const std::string& name) {
  std::set<long> ids;
  for_each_thread([&](long id, const std::string& n) {
    if (n == name) ids.insert(id);
  });
  return ids;
}

}  // namespace zvfs::testing
