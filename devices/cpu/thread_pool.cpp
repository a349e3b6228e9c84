#include "devices/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "descent/devices/parallel.h"
#include "descent/error.h"

namespace descent {

namespace detail {

namespace {
// Set on pool workers, and on the caller while it runs a job: nested
// parallel_for calls then run serially instead of waiting on a busy pool.
thread_local bool in_parallel_region = false;

// How long a thread polls before it sleeps on a condition variable. Waking
// a sleeping thread takes tens of microseconds (more on a virtual machine),
// longer than a whole small job; a training loop calls parallel_for again
// well within this, so workers stay awake between the steps' jobs (as
// OpenMP runtimes' spin-wait does).
constexpr auto kSpinTime = std::chrono::microseconds(2000);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls `ready` until it holds or kSpinTime has passed; returns whether it held.
template <class Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::drain(const std::function<void(int64_t)>& task, int64_t ntasks) {
  for (;;) {
    const int64_t i = next_.fetch_add(1);
    if (i >= ntasks) return;
    try {
      task(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (completed_.fetch_add(1) + 1 == ntasks) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_all();
    }
  }
}

void ThreadPool::worker_loop() {
  in_parallel_region = true;
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    lock.unlock();
    spin_until([&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
    lock.lock();
    wake_.wait(lock, [&] { return stop_ || (open_ && generation_ != seen); });
    if (stop_) return;
    seen = generation_;
    ++active_;
    const std::function<void(int64_t)>* task = task_;
    const int64_t ntasks = ntasks_;
    lock.unlock();
    drain(*task, ntasks);
    lock.lock();
    if (--active_ == 0) done_.notify_all();
  }
}

bool ThreadPool::try_run(int64_t ntasks, const std::function<void(int64_t)>& task) {
  std::unique_lock<std::mutex> job(job_mutex_, std::try_to_lock);
  if (!job.owns_lock()) return false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    ntasks_ = ntasks;
    next_ = 0;
    completed_ = 0;
    error_ = nullptr;
    open_ = true;
    ++generation_;
  }
  wake_.notify_all();
  const bool was_nested = in_parallel_region;
  in_parallel_region = true;
  drain(task, ntasks);
  in_parallel_region = was_nested;
  std::exception_ptr error;
  {
    spin_until([&] { return completed_.load(std::memory_order_acquire) == ntasks; });
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return completed_.load() == ntasks; });
    // No worker may still hold this job when the next one reuses next_.
    open_ = false;
    lock.unlock();
    spin_until([&] { return active_.load(std::memory_order_acquire) == 0; });
    lock.lock();
    done_.wait(lock, [&] { return active_ == 0; });
    task_ = nullptr;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
  return true;
}

}  // namespace detail

namespace {

std::mutex pool_mutex;
std::shared_ptr<detail::ThreadPool> pool;
int num_threads = 0;  // 0: not decided yet

int default_num_threads() {
  if (const char* env = std::getenv("DESCENT_NUM_THREADS")) {
    char* end = nullptr;
    const long value = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || value < 1 || value > 4096) {
      raise<ValueError>("DESCENT_NUM_THREADS: invalid value '", env, "' (must be an integer in [1, 4096])");
    }
    return static_cast<int>(value);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// Callers keep the pool alive while they use it, even across set_num_threads.
std::shared_ptr<detail::ThreadPool> current_pool() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!pool) {
    if (num_threads == 0) num_threads = default_num_threads();
    pool = std::make_shared<detail::ThreadPool>(num_threads);
  }
  return pool;
}

}  // namespace

void set_num_threads(int threads) {
  if (threads < 1 || threads > 4096) {
    raise<ValueError>("set_num_threads: invalid number of threads ", threads, " (must be in [1, 4096])");
  }
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (threads == num_threads) return;
  num_threads = threads;
  pool.reset();
}

int get_num_threads() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (num_threads == 0) num_threads = default_num_threads();
  return num_threads;
}

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  const int64_t n = end - begin;
  grain = std::max<int64_t>(grain, 1);
  if (detail::in_parallel_region || n <= grain) {
    fn(begin, end);
    return;
  }
  const std::shared_ptr<detail::ThreadPool> workers = current_pool();
  const int64_t nchunks = std::min<int64_t>(workers->num_threads(), (n + grain - 1) / grain);
  if (nchunks <= 1) {
    fn(begin, end);
    return;
  }
  const int64_t chunk = (n + nchunks - 1) / nchunks;
  const std::function<void(int64_t)> task = [&](int64_t i) {
    const int64_t b = begin + i * chunk;
    if (b < end) fn(b, std::min(end, b + chunk));
  };
  if (!workers->try_run(nchunks, task)) fn(begin, end);
}

}  // namespace descent
