#pragma once
// SGD with momentum, dampening and Nesterov momentum (Sutskever et al., "On
// the importance of initialization and momentum in deep learning", 2013).
//
//   g = -∇ if maximize else ∇;  g += λθ (weight_decay)
//   b = g on the first step, else μ·b + (1 − τ)·g   (momentum μ, dampening τ)
//   g = g + μ·b if nesterov else b;  θ = θ − γ·g
// The momentum buffer starts from the gradient, so its first step is a flag
// of its own (kFirstStep): the driver sets it for params whose buffer is new.
#include <utility>

#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct SGD {
  enum Slot { momentum_buffer, kSlots };
  enum Scalar { weight_decay, momentum, one_minus_dampening, neg_lr, kScalars };
  enum TensorScalar { kTensorScalars };
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2, kMomentum = 4, kNesterov = 8, kFirstStep = 16 };
  static constexpr unsigned kFlagBits = 5;
  static constexpr unsigned kSlotFlags[kSlots] = {kMomentum};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P&, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    if (f.has(kWeightDecay)) grad = add(std::move(grad), param, h[weight_decay]);
    if (f.has(kMomentum)) {
      V& buf = s[momentum_buffer];
      if (f.has(kFirstStep)) {
        // PyTorch starts the buffer from a detached copy of the gradient.
        copy_(buf, detach(grad));
      } else {
        mul_(buf, h[momentum]);
        add_(buf, grad, h[one_minus_dampening]);
      }
      if (f.has(kNesterov))
        grad = add(std::move(grad), buf, h[momentum]);
      else
        grad = buf;
    }
    add_(param, grad, h[neg_lr]);
  }
};

}  // namespace descent::optim_math
