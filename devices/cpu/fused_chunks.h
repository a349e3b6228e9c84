#pragma once
// What the fused optimizer kernels of the CPU backend share: the work of a
// whole bucket cut into cache-friendly chunks (many small tensors share a
// chunk list with the slices of large ones) spread over the thread pool, and
// the dispatch from run-time choices to compile-time constants that lets each
// chunk's loop vectorise.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices/cpu/cpu_backend.h"
#include "devices/math_basics.h"

namespace descent::cpu_fused {

struct Chunk {
  std::size_t tensor;
  int64_t begin, end;
};

// The chunks of `tensors`, into `chunks` (overwritten).
inline void make_chunks(const std::vector<FusedTensor>& tensors, std::vector<Chunk>& chunks) {
  constexpr int64_t kChunk = 16384;
  chunks.clear();
  for (std::size_t t = 0; t < tensors.size(); ++t)
    for (int64_t b = 0; b < tensors[t].numel; b += kChunk)
      chunks.push_back({t, b, std::min(tensors[t].numel, b + kChunk)});
}

// Runs body(tensor, begin, end) over every chunk; chunks are grouped so each
// thread gets about kGrainSize elements of work.
template <typename Body>
void for_each_chunk(const std::vector<FusedTensor>& tensors, Body&& body) {
  // The list of this thread's last call, kept for its storage: 2000 small
  // params make 48 KB of chunks, which would be faulted in anew each step.
  // Taken out while in use, so a nested call starts a list of its own.
  thread_local std::vector<Chunk> kept;
  std::vector<Chunk> chunks = std::move(kept);
  make_chunks(tensors, chunks);
  int64_t total = 0;
  for (const auto& t : tensors) total += t.numel;
  auto n = static_cast<int64_t>(chunks.size());
  int64_t grain = total > kGrainSize ? 1 : n;
  parallel_for(0, n, std::max<int64_t>(grain, 1), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) body(tensors[chunks[c].tensor], chunks[c].begin, chunks[c].end);
  });
  kept = std::move(chunks);
}

// Calls fn(std::bool_constant<b>{}...) for the runtime values b.
template <class Fn>
inline void with_constants(Fn&& fn) {
  fn();
}
template <class Fn, class... Bools>
void with_constants(Fn&& fn, bool first, Bools... rest) {
  if (first)
    with_constants([&](auto... c) { fn(std::true_type{}, c...); }, rest...);
  else
    with_constants([&](auto... c) { fn(std::false_type{}, c...); }, rest...);
}

// Element `begin` of a kernel array; an absent state array stays null.
template <class S>
S* element(void* base, int64_t begin) {
  return base ? static_cast<S*>(base) + begin : nullptr;
}

template <typename Fn>
void dispatch_floating(const char* op, Dtype dtype, Fn&& fn) {
  switch (dtype) {
    case kFloat32: return fn(float{});
    case kFloat64: return fn(double{});
    case kFloat16: return fn(Half{});
    case kBFloat16: return fn(BFloat16{});
    default: raise<TypeError>(op, ": fused kernels support floating point params only, got ", to_string(dtype));
  }
}

}  // namespace descent::cpu_fused
