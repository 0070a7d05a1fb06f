// config.h — the optional configuration file shared by zvfsd, zvfs and libzvfs.so.
//
// Owns: the file's syntax, the list of settings it may hold, and the process-wide parsed copy
// that the shared defaults (root_list, the socket path, the library's settings) consult.
//
// Syntax: one `name = value` per line; `#` starts a comment line; blank lines are skipped;
// spaces around the name and the value are trimmed (a value keeps its inner spaces; there is
// no quoting); a later line for the same name wins. Names are the long options of zvfsd without
// the dashes (`cache = 1G`), booleans are yes/no, plus the library's own settings. Every
// setting has an environment variable or a flag too, and the order is always: command-line
// flag, then environment variable, then this file, then the built-in default. Paths (pool,
// socket, root, log, pidfile) must be absolute: every program reads the file from its own
// working directory.
//
// Which file: $ZVFS_CONFIG if it is set (empty: no file), else /etc/zvfs/zvfs.conf. A missing
// default file is no error; a file named by $ZVFS_CONFIG or `zvfsd --config` must exist.
//
// Invariant: parsing never allocates and never calls into libc beyond string functions, so the
// preload library can parse in its constructor; the library reads the bytes itself, through
// the real libc entry points. The process copy is set once, before threads use it.
#pragma once

#include <stddef.h>
#include <sys/types.h>

namespace zvfs {

inline constexpr const char* kDefaultConfigPath = "/etc/zvfs/zvfs.conf";

// A parsed configuration file, in fixed storage.
class Config {
 public:
  static constexpr size_t kMaxBytes = 32768;
  static constexpr int kMaxEntries = 128;
  // Constant initialisation (all zero): a static Config is empty before any constructor runs.
  constexpr Config() = default;
  // The entries point into this object's own text.
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;
  struct Entry {
    const char* name;
    const char* value;
    int line;
  };

  // Parses len bytes of text (copied). Returns 0, or the number of the first line that is not
  // `name = value`, a comment or blank (then the configuration stays empty); -EFBIG if the
  // text is larger than kMaxBytes, -E2BIG if it holds more than kMaxEntries settings.
  int parse(const char* text, size_t len);
  void clear() { count_ = 0; }

  // Reads the file at path and parses it. Returns what parse() returns, or -errno if the file
  // cannot be opened or read (-EFBIG: larger than kMaxBytes). The library passes its real libc
  // entry points; the programs use libc's.
  using OpenFn = int (*)(const char*, int, ...);
  using ReadFn = ssize_t (*)(int, void*, size_t);
  using CloseFn = int (*)(int);
  int load(const char* path, OpenFn open_fn, ReadFn read_fn, CloseFn close_fn);

  // The value of the last line naming `name`, or nullptr.
  const char* get(const char* name) const;
  int size() const { return count_; }
  const Entry& entry(int i) const { return entries_[i]; }

 private:
  char text_[kMaxBytes + 1]{};
  Entry entries_[kMaxEntries]{};
  int parse_text(size_t len);  // parses text_[0, len)

  int count_ = 0;
};

// Who reads a setting: the daemon, the library (and `zvfs run`'s programs), or `zvfs` itself.
enum ConfigUser : unsigned { kForDaemon = 1, kForLibrary = 2, kForCli = 4 };
// The settings a file may hold, and who reads each; 0 for a name that is not one.
unsigned config_users(const char* name);

// The file to read: $ZVFS_CONFIG, else kDefaultConfigPath; nullptr if ZVFS_CONFIG is empty.
// *explicit_path tells whether the caller must report a missing file.
const char* config_path(bool* explicit_path);

// The process's configuration: empty until a program stores its file there at start-up.
Config& process_config();

// Loads the process's configuration from `path`, else from config_path(). A missing file is
// fine unless it was named (path or $ZVFS_CONFIG). Returns true, or false with a message in
// msg ("/etc/zvfs/zvfs.conf:3: unknown setting 'cahce'"); then the configuration stays empty.
bool load_process_config(const char* path, char* msg, size_t cap);
// The same through other entry points (the library's real libc functions).
bool load_process_config(const char* path, char* msg, size_t cap, Config::OpenFn open_fn,
                         Config::ReadFn read_fn, Config::CloseFn close_fn);

// An environment variable if it is set and not empty, else the file's setting, else nullptr.
const char* env_or_config(const char* env, const char* name);

}  // namespace zvfs
