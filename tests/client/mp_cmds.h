// mp_cmds.h — subcommands of zvfs_mptest kept in files of their own (see mp_prog.cc).
#pragma once

#include <string>

namespace zvfs::test {

// libaio through the library (mp_aio.cc). Returns the exit status, or -1 if `cmd` is not one
// of them.
int run_aio_command(const std::string& cmd, int argc, char** argv);

// POSIX AIO through the library (mp_posix_aio.cc). Same convention.
int run_posix_aio_command(const std::string& cmd, int argc, char** argv);

// posix_spawn, posix_spawnp, fexecve, execveat (mp_spawn.cc). Same convention.
int run_spawn_command(const std::string& cmd, int argc, char** argv);

// Programs stored in ZVFS, executed (mp_exec.cc). Same convention.
int run_exec_command(const std::string& cmd, int argc, char** argv);

// Descriptors passed over a Unix socket (mp_fdpass.cc). Same convention.
int run_fdpass_command(const std::string& cmd, int argc, char** argv);

// A full pool (mp_full.cc). Same convention.
int run_full_command(const std::string& cmd, int argc, char** argv);

// Times a program sets (mp_times.cc). Same convention.
int run_times_command(const std::string& cmd, int argc, char** argv);

// Files created by one process while others open them (mp_create.cc). Same convention.
int run_create_command(const std::string& cmd, int argc, char** argv);

// What exec-unlinked-child expects to read from its inherited descriptor.
inline std::string exec_unlinked_data() {
  std::string data(150000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13 + i / 777);
  return data;
}

}  // namespace zvfs::test
