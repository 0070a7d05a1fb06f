#include "common/task_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/test_files.h"

namespace zvfs {
namespace {

TEST(TaskPool, ReturnsEachTaskResult) {
  TaskPool pool("tp-result", 2);
  std::vector<std::future<int>> got;
  for (int i = 0; i < 50; i++) got.push_back(pool.submit([i] { return i * i; }));
  for (int i = 0; i < 50; i++) EXPECT_EQ(got[i].get(), i * i);
}

TEST(TaskPool, AnExceptionReachesTheFuture) {
  TaskPool pool("tp-throw", 1);
  auto f = pool.submit([]() -> int { throw std::runtime_error("task failed"); });
  EXPECT_THROW(f.get(), std::runtime_error);
  EXPECT_EQ(pool.submit([] { return 7; }).get(), 7);  // the thread survived it
}

// Up to `threads` tasks run at once: three tasks that each wait for all three to have started
// finish only if three threads run them.
TEST(TaskPool, RunsUpToItsSizeAtOnce) {
  TaskPool pool("tp-wide", 3);
  std::atomic<int> started{0};
  auto task = [&] {
    started.fetch_add(1);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (started.load() < 3 && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    return started.load();
  };
  auto a = pool.submit(task), b = pool.submit(task), c = pool.submit(task);
  EXPECT_EQ(a.get(), 3);
  EXPECT_EQ(b.get(), 3);
  EXPECT_EQ(c.get(), 3);
  EXPECT_EQ(pool.threads_started(), 3u);
}

// The point of the pool: many tasks, few threads, and the same threads task after task.
TEST(TaskPool, ReusesItsThreads) {
  TaskPool pool("tp-reuse", 2);
  std::set<std::thread::id> ids;
  for (int round = 0; round < 100; round++) {
    auto a = pool.submit([] { return std::this_thread::get_id(); });
    auto b = pool.submit([] { return std::this_thread::get_id(); });
    ids.insert(a.get());
    ids.insert(b.get());
  }
  EXPECT_LE(ids.size(), 2u);
  EXPECT_LE(pool.threads_started(), 2u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);  // not run on the caller
}

TEST(TaskPool, ThreadsCarryThePoolsNameWhileItLives) {
  {
    TaskPool pool("tp-named", 2);
    pool.submit([] {}).get();
    auto names = testing::thread_names();
    EXPECT_EQ(std::count(names.begin(), names.end(), "tp-named"), 1);
  }
  auto names = testing::thread_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "tp-named"), 0);  // joined
}

// Destruction runs what is still queued: one thread, blocked, with more tasks behind it.
TEST(TaskPool, DestructionRunsQueuedTasks) {
  std::atomic<int> ran{0};
  std::atomic<bool> release{false};
  {
    TaskPool pool("tp-drain", 1);
    (void)pool.submit([&] {
      while (!release.load()) std::this_thread::yield();
      ran.fetch_add(1);
    });
    for (int i = 0; i < 5; i++) (void)pool.submit([&] { ran.fetch_add(1); });
    release.store(true);
  }
  EXPECT_EQ(ran.load(), 6);
}

}  // namespace
}  // namespace zvfs
