// config.cc — the configuration file's syntax and settings (see config.h).
#include "common/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace zvfs {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

// Trims [*b, *e) in place of spaces at both ends.
void trim(char** b, char** e) {
  while (*b < *e && is_space(**b)) ++*b;
  while (*e > *b && is_space((*e)[-1])) --*e;
}

struct Setting {
  const char* name;
  unsigned users;
  enum Value { kAny, kPath, kPathList } value = kAny;  // paths must be absolute
};

// zvfsd's long options (but --help, --config and --foreground: `zvfs up` needs a daemon that
// detaches), the library's settings, and what `zvfs up` reads.
constexpr Setting kSettings[] = {
    {"pool", kForDaemon | kForCli, Setting::kPath},
    {"size", kForDaemon | kForCli},
    {"socket", kForDaemon | kForLibrary | kForCli, Setting::kPath},
    {"root", kForDaemon | kForLibrary | kForCli, Setting::kPathList},
    {"socket-mode", kForDaemon},
    {"socket-group", kForDaemon},
    {"block-size", kForDaemon},
    {"cache", kForDaemon},
    {"log", kForDaemon, Setting::kPath},
    {"log-level", kForDaemon},
    {"pidfile", kForDaemon, Setting::kPath},
    {"binding", kForDaemon},
    {"session-workers", kForDaemon},
    {"poll-us", kForDaemon},
    {"slots", kForDaemon},
    {"slot-size", kForDaemon},
    {"max-sessions", kForDaemon},
    {"max-sessions-per-user", kForDaemon},
    {"handshake-ms", kForDaemon},
    {"txg-ms", kForDaemon},
    {"buffered", kForDaemon},
    {"guard", kForDaemon},
    {"lock-wait", kForDaemon},
    {"timeout-ms", kForLibrary},
    {"plain-suffixes", kForLibrary},
    {"write-behind", kForDaemon | kForLibrary},
};

}  // namespace

int Config::parse(const char* text, size_t len) {
  count_ = 0;
  if (len > kMaxBytes) return -EFBIG;
  memcpy(text_, text, len);
  return parse_text(len);
}

int Config::load(const char* path, OpenFn open_fn, ReadFn read_fn, CloseFn close_fn) {
  count_ = 0;
  int fd = open_fn(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = 0;
  int err = 0;
  for (;;) {
    // One byte more than the limit: a file that fills it is too large.
    ssize_t n = read_fn(fd, text_ + len, kMaxBytes + 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = -errno;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
    if (len > kMaxBytes) {
      err = -EFBIG;
      break;
    }
  }
  close_fn(fd);
  return err != 0 ? err : parse_text(len);
}

int Config::parse_text(size_t len) {
  text_[len] = '\0';
  char* p = text_;
  char* const end = text_ + len;
  int count = 0;
  for (int line = 1; p < end; ++line) {
    char* eol = static_cast<char*>(memchr(p, '\n', static_cast<size_t>(end - p)));
    if (eol == nullptr) eol = end;
    char* b = p;
    char* e = eol;
    p = eol + 1;
    trim(&b, &e);
    if (b == e || *b == '#') continue;
    char* eq = static_cast<char*>(memchr(b, '=', static_cast<size_t>(e - b)));
    if (eq == nullptr) return line;
    char* nb = b;
    char* ne = eq;
    char* vb = eq + 1;
    char* ve = e;
    trim(&nb, &ne);
    trim(&vb, &ve);
    if (nb == ne) return line;
    for (char* c = nb; c < ne; ++c)
      if (is_space(*c)) return line;  // "pool file = x": a name is one word
    if (count == kMaxEntries) return -E2BIG;
    *ne = '\0';
    *ve = '\0';
    entries_[count++] = Entry{nb, vb, line};
  }
  count_ = count;
  return 0;
}

const char* Config::get(const char* name) const {
  for (int i = count_ - 1; i >= 0; --i)
    if (strcmp(entries_[i].name, name) == 0) return entries_[i].value;
  return nullptr;
}

namespace {

const Setting* find_setting(const char* name) {
  for (const Setting& s : kSettings)
    if (strcmp(s.name, name) == 0) return &s;
  return nullptr;
}

// The first path of a path-valued setting that is not absolute, or nullptr. Every program
// reads the file from its own working directory: a relative path would name a different file
// in each. A list (root) is colon-separated; empty entries are skipped, as everywhere.
const char* relative_entry(const Setting& s, const char* value, size_t* len) {
  if (s.value == Setting::kAny) return nullptr;
  if (s.value == Setting::kPath) {
    *len = strlen(value);
    return *len > 0 && value[0] != '/' ? value : nullptr;
  }
  for (const char* p = value; *p != '\0';) {
    const char* e = strchr(p, ':');
    if (e == nullptr) e = p + strlen(p);
    if (e > p && *p != '/') {
      *len = static_cast<size_t>(e - p);
      return p;
    }
    p = *e == ':' ? e + 1 : e;
  }
  return nullptr;
}

}  // namespace

unsigned config_users(const char* name) {
  const Setting* s = find_setting(name);
  return s ? s->users : 0;
}

const char* config_path(bool* explicit_path) {
  const char* p = getenv("ZVFS_CONFIG");
  *explicit_path = p != nullptr;
  if (p == nullptr) return kDefaultConfigPath;
  return p[0] == '\0' ? nullptr : p;
}

namespace {
// Constant-initialised: no static constructor that could run after the library's own
// constructor has filled it.
constinit Config g_process_config;
}  // namespace

Config& process_config() {
  return g_process_config;
}

bool load_process_config(const char* path, char* msg, size_t cap, Config::OpenFn open_fn,
                         Config::ReadFn read_fn, Config::CloseFn close_fn) {
  bool named = path != nullptr;
  if (path == nullptr) path = config_path(&named);
  Config& c = process_config();
  c.clear();
  if (path == nullptr) return true;
  int r = c.load(path, open_fn, read_fn, close_fn);
  if (r == -ENOENT && !named) return true;
  if (r < 0) {
    snprintf(msg, cap, "%s: %s", path, r == -E2BIG ? "more than 128 settings" : strerror(-r));
    return false;
  }
  if (r > 0) {
    snprintf(msg, cap, "%s:%d: expected 'name = value' or a # comment", path, r);
    return false;
  }
  for (int i = 0; i < c.size(); ++i) {
    const Config::Entry& e = c.entry(i);
    const Setting* s = find_setting(e.name);
    size_t len = 0;
    const char* rel = s ? relative_entry(*s, e.value, &len) : nullptr;
    if (s == nullptr) {
      snprintf(msg, cap, "%s:%d: unknown setting '%s'", path, e.line, e.name);
    } else if (rel != nullptr) {
      snprintf(msg, cap, "%s:%d: %s: '%.*s' is not an absolute path", path, e.line, e.name,
               static_cast<int>(len), rel);
    } else {
      continue;
    }
    c.clear();
    return false;
  }
  return true;
}

bool load_process_config(const char* path, char* msg, size_t cap) {
  return load_process_config(path, msg, cap, ::open, ::read, ::close);
}

const char* env_or_config(const char* env, const char* name) {
  const char* v = getenv(env);
  if (v != nullptr && v[0] != '\0') return v;
  return process_config().get(name);
}

}  // namespace zvfs
