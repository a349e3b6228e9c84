#pragma once
// RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and
// Beyond", 2019), with decoupled weight decay as an option.
//
//   g = -∇ if maximize else ∇;  θ = θ·(1 − γλ) if decoupled, else g += λθ
//   m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²;  m̂ = m / (1 − β1^t)
//   ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t),  ρ∞ = 2/(1 − β2) − 1
//   ρ_t > 5:  θ = θ − m̂·γ · sqrt(1 − β2^t)/(sqrt(v) + ε) · r_t   (r_t: the rectification)
//   else:     θ = θ − m̂·γ
#include <type_traits>

#include "devices/optim_math/adam_moments.h"
#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct RAdam {
  enum Slot { exp_avg, exp_avg_sq, kSlots };
  enum Scalar { weight_decay, decay_keep, lerp_weight, beta2, one_minus_beta2, eps, lr, one, kScalars };
  // bias_correction1 = 1 − β1^t, bias_correction2_sqrt = sqrt(1 − β2^t),
  // rect = r_t, rectified = (ρ_t > 5); for the foreach: rect_step =
  // −sqrt(1 − β2^t)·γ·r_t/(1 − β1^t) and unrect_step = −γ/(1 − β1^t) when
  // not rectified (else 0).
  enum TensorScalar {
    bias_correction1,
    bias_correction2_sqrt,
    rect,
    rectified,
    rect_step,
    unrect_step,
    kTensorScalars
  };
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2, kDecoupled = 4 };
  static constexpr unsigned kFlagBits = 3;
  static constexpr unsigned kSlotFlags[kSlots] = {0, 0};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    adam_moments<RAdam>(f, h, param, std::move(grad), s);
    auto step = mul(div(s[exp_avg], t[bias_correction1]), h[lr]);
    if constexpr (std::is_floating_point_v<V>) {
      // One element: both sides and a select, so that the kernel's loop has
      // no branch and vectorises (the unused side has no effect).
      const V rectified_value = rectified_step(h, t, step, s[exp_avg_sq]);
      step = t[rectified] != 0 ? rectified_value : step;
    } else if (t[rectified] != 0) {
      step = rectified_step(h, t, step, s[exp_avg_sq]);
    }
    sub_(param, step);
  }

  // step · r_t · bias_correction2_sqrt / (sqrt(v) + ε); the last factor, a
  // host scalar over a tensor, is a reciprocal and then a product.
  template <class V, class H, class P, class W>
  DESCENT_HOST_DEVICE static W rectified_step(const H& h, const P& t, const W& step, const V& exp_avg_sq) {
    auto adaptive_lr = mul(reciprocal(add(sqrt(exp_avg_sq), h[eps])), t[bias_correction2_sqrt]);
    return mul(mul(step, adaptive_lr), t[rect]);
  }

  // PyTorch's foreach: θ = θ + m · 1/((sqrt(v) + ε) / rect_step) + unrect_step·m.
  template <class F, class V, class H, class P>
  static void update_foreach(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    adam_moments<RAdam>(f, h, param, std::move(grad), s);
    auto buffer = add(reciprocal(div(add(sqrt(s[exp_avg_sq]), h[eps]), t[rect_step])), t[unrect_step]);
    addcmul_(param, s[exp_avg], buffer, h[one]);
  }
};

}  // namespace descent::optim_math
