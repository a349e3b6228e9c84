// Storage byte counters: relaxed atomics, one add per allocation and release.
#include "descent/tensor/memory_stats.h"

#include <array>
#include <atomic>

namespace descent {

namespace {
struct Counters {
  std::atomic<int64_t> allocated{0};
  std::atomic<int64_t> peak{0};
};
constexpr std::size_t kDeviceTypes = 2;  // DeviceType's values

Counters& counters(DeviceType type) {
  static std::array<Counters, kDeviceTypes> all;
  return all[static_cast<std::size_t>(type)];
}
}  // namespace

MemoryStats memory_stats(DeviceType type) {
  const Counters& c = counters(type);
  return {c.allocated.load(std::memory_order_relaxed), c.peak.load(std::memory_order_relaxed)};
}

void reset_peak_memory_stats(DeviceType type) {
  Counters& c = counters(type);
  c.peak.store(c.allocated.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

namespace detail {
void record_allocation(DeviceType type, int64_t nbytes) {
  Counters& c = counters(type);
  const int64_t now = c.allocated.fetch_add(nbytes, std::memory_order_relaxed) + nbytes;
  int64_t peak = c.peak.load(std::memory_order_relaxed);
  while (now > peak && !c.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
void record_release(DeviceType type, int64_t nbytes) {
  counters(type).allocated.fetch_sub(nbytes, std::memory_order_relaxed);
}
}  // namespace detail

}  // namespace descent
