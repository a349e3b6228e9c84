#pragma once
// RMSprop (Hinton, "Neural Networks for Machine Learning", lecture 6e), with
// the centered variant of Graves ("Generating Sequences With Recurrent
// Neural Networks", 2013) and momentum.
//
//   g = -∇ if maximize else ∇;  g += λθ (weight_decay)
//   v = α·v + (1 − α)·g²
//   centered: ḡ = lerp(ḡ, g, 1 − α), a = sqrt(v − ḡ²) + ε;  else a = sqrt(v) + ε
//   momentum μ > 0: b = μ·b + g/a, θ = θ − γ·b;  else θ = θ − γ·g/a
#include <utility>

#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct RMSprop {
  enum Slot { square_avg, momentum_buffer, grad_avg, kSlots };
  enum Scalar { weight_decay, alpha, one_minus_alpha, eps, momentum, neg_lr, one, minus_one, kScalars };
  enum TensorScalar { kTensorScalars };
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2, kCentered = 4, kMomentum = 8 };
  static constexpr unsigned kFlagBits = 4;
  // The forloop negates and decays a complex gradient before its real view.
  static constexpr bool kWeightDecayBeforeRealView = true;
  static constexpr unsigned kSlotFlags[kSlots] = {0, kMomentum, kCentered};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P&, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    if (f.has(kWeightDecay)) grad = add(std::move(grad), param, h[weight_decay]);
    mul_(s[square_avg], h[alpha]);
    addcmul_(s[square_avg], grad, grad, h[one_minus_alpha]);
    if (f.has(kCentered)) lerp_(s[grad_avg], grad, h[one_minus_alpha]);
    auto avg = add(f.has(kCentered) ? sqrt(addcmul(s[square_avg], s[grad_avg], s[grad_avg], h[minus_one]))
                                    : sqrt(s[square_avg]),
                   h[eps]);
    if (f.has(kMomentum)) {
      mul_(s[momentum_buffer], h[momentum]);
      addcdiv_(s[momentum_buffer], grad, avg, h[one]);
      add_(param, s[momentum_buffer], h[neg_lr]);
    } else {
      addcdiv_(param, grad, avg, h[neg_lr]);
    }
  }
};

}  // namespace descent::optim_math
