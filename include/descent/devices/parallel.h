#pragma once
// CPU parallelism: one small persistent thread pool shared by every CPU
// kernel (elementwise, reductions, matmul and the fused optimizer kernels).
#include <cstdint>
#include <functional>

namespace descent {

// Below this many elements a loop runs on the calling thread (PyTorch's GRAIN_SIZE).
inline constexpr int64_t kGrainSize = 32768;

// Threads used by CPU kernels, the calling thread included. The default is
// std::thread::hardware_concurrency(), or the environment variable
// DESCENT_NUM_THREADS when it is set (a positive integer).
void set_num_threads(int num_threads);
int get_num_threads();

// Calls fn(chunk_begin, chunk_end) over disjoint chunks covering [begin, end),
// each of about `grain` elements or more (one chunk when the range is smaller),
// possibly concurrently; returns when all are done and rethrows the first
// exception a chunk threw. Nested calls (from inside fn) run serially.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace descent
