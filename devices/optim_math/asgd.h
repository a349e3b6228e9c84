#pragma once
// Averaged SGD (Polyak & Juditsky, "Acceleration of Stochastic Approximation
// by Averaging", 1992).
//
//   g = -∇ if maximize else ∇;  g += λθ (weight_decay)
//   θ = θ·(1 − lambd·η) − η·g
//   ax = ax + (θ − ax)·μ  (ax = θ while μ = 1)
// η and μ are host scalars kept in the state, updated after each step:
//   η = γ / (1 + lambd·γ·t)^α,  μ = 1 / max(1, t − t0)
#include <utility>

#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct ASGD {
  enum Slot { ax, kSlots };
  enum Scalar { weight_decay, lambd, kScalars };
  // decay = 1 − lambd·η, neg_eta = −η, mu = μ, averaging = (μ != 1)
  enum TensorScalar { decay, neg_eta, mu, averaging, kTensorScalars };
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2 };
  static constexpr unsigned kFlagBits = 2;
  static constexpr unsigned kSlotFlags[kSlots] = {0};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    if (f.has(kWeightDecay)) grad = add(std::move(grad), param, h[weight_decay]);
    mul_(param, t[decay]);
    add_(param, grad, t[neg_eta]);
    if (t[averaging] != 0)
      add_(s[ax], mul(sub(param, s[ax]), t[mu]));
    else
      copy_(s[ax], param);
  }

  // PyTorch's foreach folds the decay into the gradient, θ = θ − η·(g + lambd·θ),
  // and always averages (also while μ = 1).
  template <class F, class V, class H, class P>
  static void update_foreach(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    if (f.has(kMaximize)) grad = neg(grad);
    if (f.has(kWeightDecay)) grad = add(std::move(grad), param, h[weight_decay]);
    auto intermediate = add(grad, param, h[lambd]);
    add_(param, intermediate, t[neg_eta]);
    add_(s[ax], sub(param, s[ax]), t[mu]);
  }
};

}  // namespace descent::optim_math
