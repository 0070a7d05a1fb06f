// task_pool.cc — see task_pool.h.
#include "common/task_pool.h"

#include <new>
#include <system_error>

#include "common/thread_name.h"

namespace zvfs {

TaskPool::TaskPool(std::string name, size_t threads)
    : name_(std::move(name)), max_threads_(threads == 0 ? 1 : threads) {}

TaskPool::~TaskPool() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  // Without threads (none could start) a queued job cannot exist: enqueue refused it.
}

size_t TaskPool::threads_started() const {
  std::lock_guard g(mu_);
  return threads_.size();
}

bool TaskPool::enqueue(std::function<void()> job) {
  std::unique_lock g(mu_);
  // A thread for this job if every running one is busy (or about to take an earlier job).
  if (idle_ <= queue_.size() && threads_.size() < max_threads_) {
    try {
      threads_.reserve(max_threads_);
      threads_.emplace_back([this] { run(); });
    } catch (const std::system_error&) {  // no thread now: the running ones take the job
    } catch (const std::bad_alloc&) {
    }
  }
  if (threads_.empty()) return false;
  try {
    queue_.push_back(std::move(job));
  } catch (const std::bad_alloc&) {  // no memory to queue it: the caller runs it
    return false;
  }
  g.unlock();
  cv_.notify_one();
  return true;
}

void TaskPool::run() {
  name_this_thread(name_.c_str());
  std::unique_lock g(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(g, [this] { return stop_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping, and nothing left to run
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    g.unlock();
    job();
    g.lock();
  }
}

}  // namespace zvfs
