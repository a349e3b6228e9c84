#pragma once
// What the fused optimizer kernels of the Thrust backend share: the bucket's
// tensor table uploaded to the device once per step, the search from a flat
// element index to its tensor, and the floating-point dtype dispatch.
#include <thrust/copy.h>
#include <thrust/device_vector.h>

#include <vector>

#include "devices/cuda/thrust_backend.h"

namespace descent::detail::DESCENT_THRUST_NS::fused_table {

// The bucket's tensor table in device memory. Entries are trivially
// copyable, so the bytes travel as they are.
template <class Entry>
class DeviceTable {
 public:
  explicit DeviceTable(const std::vector<Entry>& host) : bytes_(host.size() * sizeof(Entry)) {
    const auto* first = reinterpret_cast<const uint8_t*>(host.data());
    thrust::copy(first, first + bytes_.size(), bytes_.begin());
  }
  const Entry* get() const { return reinterpret_cast<const Entry*>(thrust::raw_pointer_cast(bytes_.data())); }

 private:
  thrust::device_vector<uint8_t> bytes_;
};

// Index of the tensor holding flat element i: the last one starting at or
// before i (empty tensors share their successor's start and are skipped).
template <class Entry>
DESCENT_HOST_DEVICE int64_t find_tensor(const Entry* tensors, int64_t count, int64_t i) {
  int64_t lo = 0, hi = count;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (tensors[mid].start <= i)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

template <class Fn>
inline void dispatch_floating(const char* op, Dtype dtype, Fn&& fn) {
  switch (dtype) {
    case kFloat32:
      return fn(Tag<float>{});
    case kFloat64:
      return fn(Tag<double>{});
    case kFloat16:
      return fn(Tag<Half>{});
    case kBFloat16:
      return fn(Tag<BFloat16>{});
    default:
      raise<TypeError>(op, ": fused kernels support floating point params only, got ", to_string(dtype));
  }
}


}  // namespace descent::detail::DESCENT_THRUST_NS::fused_table
