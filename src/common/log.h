// log.h — levelled logging for the engine, the daemon and the command line.
//
// Lines go to a file and/or stderr, each with a timestamp, level and component:
//   2026-01-01T12:00:00.123456Z ERROR zio: checksum mismatch at 0x12000 (blob 7)
// The sink is process-wide and thread-safe; a line is written with one write(2) so lines from
// different threads never interleave. The preload library does not use this logger (it must
// never allocate or write to the application's stderr unless ZVFS_LOG asks; it has its own).
#pragma once

#include <cstdarg>
#include <string>

namespace zvfs::log {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// Parses "debug", "info", "warn", "error", "off"; returns kInfo for anything else.
Level parse_level(const std::string& s);

// Configure once at start-up. `file` empty = no file. Returns false if the file cannot be opened.
bool configure(Level level, const std::string& file, bool to_stderr);
Level level();

void write(Level lvl, const char* component, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
void vwrite(Level lvl, const char* component, const char* fmt, va_list ap);

}  // namespace zvfs::log

#define ZVFS_LOG(lvl, comp, ...)                                              \
  do {                                                                        \
    if (static_cast<int>(lvl) >= static_cast<int>(::zvfs::log::level()))     \
      ::zvfs::log::write(lvl, comp, __VA_ARGS__);                             \
  } while (0)
#define LOG_DEBUG(comp, ...) ZVFS_LOG(::zvfs::log::Level::kDebug, comp, __VA_ARGS__)
#define LOG_INFO(comp, ...) ZVFS_LOG(::zvfs::log::Level::kInfo, comp, __VA_ARGS__)
#define LOG_WARN(comp, ...) ZVFS_LOG(::zvfs::log::Level::kWarn, comp, __VA_ARGS__)
#define LOG_ERROR(comp, ...) ZVFS_LOG(::zvfs::log::Level::kError, comp, __VA_ARGS__)
