#pragma once
// The persistent worker pool behind descent::parallel_for.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace descent::detail {

class ThreadPool {
 public:
  // num_threads counts the calling thread, which always takes part in a job.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs task(i) for every i in [0, ntasks) and rethrows the first exception.
  // Returns false, running nothing, when the pool is busy with another job.
  bool try_run(int64_t ntasks, const std::function<void(int64_t)>& task);

 private:
  void worker_loop();
  void drain(const std::function<void(int64_t)>& task, int64_t ntasks);

  std::vector<std::thread> workers_;
  std::mutex job_mutex_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  // The current job; written under mutex_ while no worker is inside it.
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t ntasks_ = 0;
  // Also read without the lock by workers spinning for the next job.
  std::atomic<uint64_t> generation_{0};
  bool open_ = false;  // workers may still join the current job
  std::atomic<int> active_{0};  // workers inside the current job
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_{0}, completed_{0};
  std::exception_ptr error_;
};

}  // namespace descent::detail
