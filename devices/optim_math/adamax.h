#pragma once
// Adamax (Kingma & Ba, "Adam: A Method for Stochastic Optimization", 2014,
// §7.1): Adam with the infinity norm in place of the second moment.
//
//   g = -∇ if maximize else ∇;  g += λθ (weight_decay)
//   m = lerp(m, g, 1 − β1);  u = max(u·β2, |g| + ε)
//   θ = θ − γ/(1 − β1^t) · m / u
#include <utility>

#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct Adamax {
  enum Slot { exp_avg, exp_inf, kSlots };
  enum Scalar { weight_decay, lerp_weight, beta2, eps, kScalars };
  enum TensorScalar { neg_clr, kTensorScalars };  // −γ/(1 − β1^t)
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2 };
  static constexpr unsigned kFlagBits = 2;
  // The forloop negates and decays a complex gradient before its real view.
  static constexpr bool kWeightDecayBeforeRealView = true;
  static constexpr unsigned kSlotFlags[kSlots] = {0, 0};  // the flags a slot exists under

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    if (f.has(kWeightDecay)) grad = add(std::move(grad), param, h[weight_decay]);
    lerp_(s[exp_avg], grad, h[lerp_weight]);
    mul_(s[exp_inf], h[beta2]);
    maximum_(s[exp_inf], add(abs(std::move(grad)), h[eps]));
    addcdiv_(param, s[exp_avg], s[exp_inf], t[neg_clr]);
  }
};

}  // namespace descent::optim_math
