// load_monitor.h — decides whether busy-waiting may use the machine's idle CPUs.
//
// Both sides of the doorbell spin briefly before sleeping (docs/PROTOCOL.md, "Doorbell"): on
// an idle machine that turns a 50 us wake-up into a sub-microsecond hand-over. With several
// client processes on a saturated machine it is the opposite: each process has a thread
// spinning for its reply, and together they take the CPUs the work needs. Measured with
// PostgreSQL (pgbench, 4 clients, 2 CPUs): spinning daemon workers and client threads took
// half of all CPU time; without it, 2x the transactions. One busy process with several threads
// is the other case: at most one of its threads spins, and spinning still pays (cached 4 KiB
// writes from 2 threads: 10x faster with it).
//
// So the daemon samples, every 5 ms, the kernel's count of runnable threads (/proc/loadavg,
// less the sampler itself) and the number of sessions that made requests since the last
// sample, and stops spinning while both the CPUs are oversubscribed (on average cpus + 1
// runnable threads or more) and two or more client processes are active. It resumes when
// either falls back (below cpus - 1/2 runnable threads, or under 1.25 active sessions): the
// gap is hysteresis, since spinning threads count themselves as runnable. Averages are over
// about 8 samples. The verdict goes to the workers and, through each session's region
// header, to the clients.
//
// Invariant: the verdict is a hint. Either value is safe for the doorbell protocol; it only
// moves cost between CPU time and wake-up latency.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace zvfs::daemon {

class LoadMonitor {
 public:
  // The smoothing and hysteresis, separate from the sampling so that tests can drive it.
  struct Verdict {
    uint32_t avg_x256 = 0;         // moving average of runnable threads, x256
    uint32_t active_avg_x256 = 0;  // moving average of active sessions, x256
    bool spin_ok = true;
    // Feeds one sample (runnable threads other than the sampler, sessions with requests since
    // the previous sample) and returns the verdict.
    bool feed(uint32_t runnable, uint32_t active, unsigned cpus);
  };

  // active(): sessions that made requests since the previous call.
  // publish(ok): hands the verdict out; called after every sample.
  LoadMonitor(unsigned cpus, std::function<uint32_t()> active, std::function<void(bool)> publish)
      : cpus_(cpus ? cpus : 1), active_(std::move(active)), publish_(std::move(publish)) {}
  ~LoadMonitor() { stop(); }
  LoadMonitor(const LoadMonitor&) = delete;
  LoadMonitor& operator=(const LoadMonitor&) = delete;

  void start();  // no-op (spinning stays allowed) if /proc/loadavg cannot be read
  void stop();

  // The runnable-thread count of a /proc/loadavg line ("0.50 0.40 0.30 3/456 789"), or -1.
  static int parse_running(const char* line);

 private:
  void run(int fd);

  const unsigned cpus_;
  std::function<uint32_t()> active_;
  std::function<void(bool)> publish_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace zvfs::daemon
