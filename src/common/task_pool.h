// task_pool.h — a few long-lived, named threads that run tasks handed to them, for work that
// a caller starts now and waits for later (the engine's commit batches and its reaper).
//
// Such work used to start a thread per task (std::async): one clone, stack and exit per 4 MiB
// of committed data, hundreds a second while a bulk writer streams, and threads that `top -H`
// and perf saw come and go under ever new ids. A TaskPool starts its threads on demand, up to
// its size, and keeps them until it is destroyed.
//
// Contract:
//   - submit(f) queues f and returns a std::future of its result (an exception f throws is
//     stored in the future, as with std::async). Tasks start in submission order; up to
//     `threads` run at once.
//   - When no thread can be started and none is running, submit() runs f on the calling
//     thread before returning (errors are values: no thread is not a failure of f).
//   - The destructor runs every task still queued, then joins the threads.
//   - Thread-safe. A task must not wait for a task submitted after it to the same pool when
//     the pool has one thread (it would wait for itself).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace zvfs {

class TaskPool {
 public:
  // `name` names each thread (as thread_name.h does); `threads` >= 1.
  TaskPool(std::string name, size_t threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  template <class F>
  auto submit(F f) -> std::future<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(f));
    std::future<R> done = task->get_future();
    if (!enqueue([task] { (*task)(); })) (*task)();
    return done;
  }

  // Threads started so far (for tests).
  size_t threads_started() const;

 private:
  // Queues a job, starting a thread if all are busy and the pool is not full. False if there
  // is no thread to run it (none could be started): the caller runs the job itself.
  bool enqueue(std::function<void()> job);
  void run();

  const std::string name_;
  const size_t max_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stop_ = false;
};

}  // namespace zvfs
