#pragma once
// Rprop (Riedmiller & Braun, "A Direct Adaptive Method for Faster
// Backpropagation Learning: The RPROP Algorithm", 1993).
//
//   g = -∇ if maximize else ∇;  s = sign(g·prev)
//   η = η+ where s > 0, η− where s < 0, 1 where s = 0
//   step_size = clamp(step_size·η, step_size_min, step_size_max)
//   g = 0 where η = η−;  θ = θ − sign(g)·step_size;  prev = g
#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct Rprop {
  enum Slot { prev, step_size, kSlots };
  enum Scalar { etaminus, etaplus, step_size_min, step_size_max, zero, one, minus_one, kScalars };
  enum TensorScalar { kTensorScalars };
  enum Flag : unsigned { kMaximize = 1 };
  static constexpr unsigned kFlagBits = 1;
  static constexpr unsigned kSlotFlags[kSlots] = {0, 0};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P&, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    // prev is overwritten below: under autograd the product must keep a copy.
    auto factor = sign(mul(grad, tracked_copy(s[prev])));
    factor = where(gt(factor, h[zero]), h[etaplus], factor);
    factor = where(lt(factor, h[zero]), h[etaminus], factor);
    factor = where(eq(factor, h[zero]), h[one], factor);
    mul_(s[step_size], factor);
    clamp_(s[step_size], h[step_size_min], h[step_size_max]);
    grad = where(eq(factor, h[etaminus]), h[zero], grad);
    addcmul_(param, sign(grad), s[step_size], h[minus_one]);
    copy_(s[prev], grad);
  }
};

}  // namespace descent::optim_math
