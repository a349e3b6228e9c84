#pragma once
// Rprop (Riedmiller & Braun, "A Direct Adaptive Method for Faster
// Backpropagation Learning: The RPROP Algorithm", 1993).
//
//   g = -∇ if maximize else ∇;  s = sign(g·prev)
//   η = η+ where s > 0, η− where s < 0, 1 where s = 0
//   step_size = clamp(step_size·η, step_size_min, step_size_max)
//   g = 0 where η = η−;  θ = θ − sign(g)·step_size;  prev = g
#include <utility>

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
    {
      // PyTorch's order: prev takes the (negated) gradient as soon as the
      // product is formed and holds the updated gradient from then on; the
      // factor is freed before the gradient's sign is formed. prev is
      // overwritten, so under autograd the product keeps a copy.
      auto factor = mul(grad, tracked_copy(s[prev]));
      copy_(s[prev], grad);
      if (f.has(kMaximize)) {
        factor = neg(std::move(factor));
        neg_(s[prev]);
      }
      factor = sign(std::move(factor));
      masked_fill_(factor, gt(factor, h[zero]), h[etaplus]);
      masked_fill_(factor, lt(factor, h[zero]), h[etaminus]);
      masked_fill_(factor, eq(factor, h[zero]), h[one]);
      mul_(s[step_size], factor);
      clamp_(s[step_size], h[step_size_min], h[step_size_max]);
      masked_fill_(s[prev], eq(factor, h[etaminus]), h[zero]);
    }
    addcmul_(param, sign(s[prev]), s[step_size], h[minus_one]);
  }
};

}  // namespace descent::optim_math
