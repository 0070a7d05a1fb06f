// Tests of the load monitor: parsing /proc/loadavg, the smoothed verdict with its hysteresis,
// and the sampling thread publishing verdicts on this machine.
#include "daemon/load_monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace zvfs::daemon {
namespace {

TEST(LoadMonitor, ParsesTheRunnableCount) {
  EXPECT_EQ(LoadMonitor::parse_running("0.50 0.40 0.30 3/456 789\n"), 3);
  EXPECT_EQ(LoadMonitor::parse_running("12.00 9.10 4.20 17/1200 42"), 17);
  EXPECT_EQ(LoadMonitor::parse_running(""), -1);
  EXPECT_EQ(LoadMonitor::parse_running("0.50 0.40 0.30"), -1);
  EXPECT_EQ(LoadMonitor::parse_running("0.50 0.40 0.30 x/456 789"), -1);
  EXPECT_EQ(LoadMonitor::parse_running("0.50 0.40 0.30 3 789"), -1);
}

TEST(LoadMonitor, SpinningStopsWhenProcessesOversubscribeCpusAndResumesWithHysteresis) {
  LoadMonitor::Verdict v;
  // A client and a worker spinning on 2 CPUs: each has a CPU.
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(v.feed(2, 1, 2));
  // One busy process oversubscribing the CPUs keeps spinning (at most one of its threads
  // spins, and it spins for a worker that is running).
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(v.feed(4, 1, 2));
  // A single spike of several processes is averaged away.
  EXPECT_TRUE(v.feed(9, 4, 2));
  // Sustained: several active processes on oversubscribed CPUs stop spinning in a few samples.
  int samples = 0;
  while (v.feed(5, 4, 2)) ASSERT_LT(++samples, 20);
  EXPECT_FALSE(v.spin_ok);
  // Without spinners, 2 runnable threads of 4 processes on 2 CPUs do not resume it (resuming
  // would bring the spinners back and oversubscribe again)...
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(v.feed(2, 4, 2));
  // ...a CPU to spare does,
  samples = 0;
  while (!v.feed(1, 4, 2)) ASSERT_LT(++samples, 40);
  EXPECT_TRUE(v.spin_ok);
  // and so does a single process left.
  while (v.feed(5, 4, 2)) ASSERT_LT(++samples, 80);
  samples = 0;
  while (!v.feed(5, 1, 2)) ASSERT_LT(++samples, 40);
  EXPECT_TRUE(v.spin_ok);
}

TEST(LoadMonitor, SamplerPublishesVerdictsAndStops) {
  std::atomic<int> published{0};
  std::atomic<int> asked{0};
  LoadMonitor m(
      2,
      [&] {
        asked.fetch_add(1);
        return 0u;
      },
      [&](bool) { published.fetch_add(1); });
  m.start();
  for (int i = 0; i < 400 && published.load() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  m.stop();
  EXPECT_GE(published.load(), 3);
  EXPECT_EQ(asked.load(), published.load());  // one activity count per sample
  int after = published.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(published.load(), after);  // stopped means stopped
}

}  // namespace
}  // namespace zvfs::daemon
