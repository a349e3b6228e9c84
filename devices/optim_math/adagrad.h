#pragma once
// Adagrad (Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online
// Learning and Stochastic Optimization", 2011), dense gradients.
//
//   g = -∇ if maximize else ∇;  g += λθ (weight_decay)
//   s = s + g²;  θ = θ − γ/(1 + (t − 1)·lr_decay) · g / (sqrt(s) + ε)
#include <utility>

#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct Adagrad {
  enum Slot { sum, kSlots };
  enum Scalar { weight_decay, one, eps, kScalars };
  enum TensorScalar { neg_clr, kTensorScalars };  // −γ/(1 + (t − 1)·lr_decay)
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2 };
  static constexpr unsigned kFlagBits = 2;
  // The forloop negates and decays a complex gradient before its real view.
  static constexpr bool kWeightDecayBeforeRealView = true;
  static constexpr unsigned kSlotFlags[kSlots] = {0};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    if (f.has(kWeightDecay)) grad = add(std::move(grad), param, h[weight_decay]);
    addcmul_(s[sum], grad, grad, h[one]);
    auto std_dev = add(sqrt(s[sum]), h[eps]);
    addcdiv_(param, grad, std_dev, t[neg_clr]);
  }

  // PyTorch's foreach scales the gradient first: θ = θ + (−clr·g) / std.
  template <class F, class V, class H, class P>
  static void update_foreach(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    if (f.has(kWeightDecay)) grad = add(std::move(grad), param, h[weight_decay]);
    addcmul_(s[sum], grad, grad, h[one]);
    auto std_dev = add(sqrt(s[sum]), h[eps]);
    addcdiv_(param, mul(std::move(grad), t[neg_clr]), std_dev, h[one]);
  }
};

}  // namespace descent::optim_math
