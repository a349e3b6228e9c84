#pragma once
// Adadelta (Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012).
//
//   g = -∇ if maximize else ∇;  g += λθ (weight_decay)
//   v = ρ·v + (1 − ρ)·g²
//   δ = sqrt(u + ε) / sqrt(v + ε) · g;  u = ρ·u + (1 − ρ)·δ²
//   θ = θ − γ·δ
#include <utility>

#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct Adadelta {
  enum Slot { square_avg, acc_delta, kSlots };
  enum Scalar { weight_decay, rho, one_minus_rho, eps, neg_lr, kScalars };
  enum TensorScalar { kTensorScalars };
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2 };
  static constexpr unsigned kFlagBits = 2;
  // The forloop negates and decays a complex gradient before its real view.
  static constexpr bool kWeightDecayBeforeRealView = true;
  static constexpr unsigned kSlotFlags[kSlots] = {0, 0};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P&, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    if (f.has(kWeightDecay)) grad = add(std::move(grad), param, h[weight_decay]);
    mul_(s[square_avg], h[rho]);
    addcmul_(s[square_avg], grad, grad, h[one_minus_rho]);
    auto std_dev = sqrt(add(s[square_avg], h[eps]));
    // Temporaries are updated out of place: under autograd, sqrt keeps its
    // result for backward (the list forms reuse what nothing else holds).
    auto delta = mul(div(sqrt(add(s[acc_delta], h[eps])), std_dev), grad);
    mul_(s[acc_delta], h[rho]);
    addcmul_(s[acc_delta], delta, delta, h[one_minus_rho]);
    add_(param, delta, h[neg_lr]);
  }
};

}  // namespace descent::optim_math
