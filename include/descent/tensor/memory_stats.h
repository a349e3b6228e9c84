#pragma once
// Bytes held by tensor storages, per device type, as
// torch.cuda.memory_allocated / max_memory_allocated report them (for every
// device type here): what a step costs in memory can be measured, e.g. the
// peak of a foreach step against a forloop one. Memory a user lent with
// from_blob is not counted.
#include <cstdint>

#include "descent/devices/device.h"

namespace descent {

/// Bytes allocated on one device type, now and at peak since the last reset.
struct MemoryStats {
  int64_t allocated = 0;       // bytes held now
  int64_t peak_allocated = 0;  // most bytes held since the last reset
};

MemoryStats memory_stats(DeviceType type);
// The peak becomes what is held now (torch.cuda.reset_peak_memory_stats).
void reset_peak_memory_stats(DeviceType type);

namespace detail {
void record_allocation(DeviceType type, int64_t nbytes);
void record_release(DeviceType type, int64_t nbytes);
}  // namespace detail

}  // namespace descent
