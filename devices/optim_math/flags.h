#pragma once
// The choices an update makes once per step, as bits of a mask. The CPU
// kernels take the mask as a compile-time constant (StaticFlags), so every
// variant is a straight loop the compiler vectorises; CUDA threads, the
// forloop and the foreach test the runtime mask (Flags), which is uniform
// across a launch.
#include "descent/devices/backend.h"

namespace descent::optim_math {

struct Flags {
  unsigned mask = 0;
  DESCENT_HOST_DEVICE constexpr bool has(unsigned flag) const { return (mask & flag) == flag; }
};

// `flag` when `on`, else no bits: a mask is built as when(a, kA) | when(b, kB).
DESCENT_HOST_DEVICE constexpr unsigned when(bool on, unsigned flag) { return on ? flag : 0u; }

template <unsigned Mask>
struct StaticFlags {
  static constexpr unsigned mask = Mask;
  DESCENT_HOST_DEVICE static constexpr bool has(unsigned flag) { return (Mask & flag) == flag; }
};

}  // namespace descent::optim_math
