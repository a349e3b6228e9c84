#pragma once
// NAdam (Dozat, "Incorporating Nesterov Momentum into Adam", 2016), with
// the momentum schedule μ_t = β1·(1 − ½·0.96^(t·ψ)) and decoupled weight
// decay as an option (Loshchilov & Hutter, 2017).
//
//   g = -∇ if maximize else ∇;  θ = θ·(1 − γλ) if decoupled, else g += λθ
//   m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²
//   d = sqrt(v / (1 − β2^t)) + ε
//   θ = θ − γ(1 − μ_t)/(1 − Πμ) · g/d − γ·μ_{t+1}/(1 − Πμ·μ_{t+1}) · m/d
// The products Πμ (mu_product) are host scalars kept in the state.
#include "devices/optim_math/adam_moments.h"
#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct NAdam {
  enum Slot { exp_avg, exp_avg_sq, kSlots };
  enum Scalar { weight_decay, decay_keep, lerp_weight, beta2, one_minus_beta2, eps, kScalars };
  enum TensorScalar { bias_correction2, bias_correction2_sqrt, grad_step, avg_step, kTensorScalars };
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2, kDecoupled = 4 };
  static constexpr unsigned kFlagBits = 3;
  static constexpr unsigned kSlotFlags[kSlots] = {0, 0};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    grad = adam_moments<NAdam>(f, h, param, std::move(grad), s);
    auto denom = add(sqrt(div(s[exp_avg_sq], t[bias_correction2])), h[eps]);
    addcdiv_(param, grad, denom, t[grad_step]);
    addcdiv_(param, s[exp_avg], denom, t[avg_step]);
  }

  // PyTorch's foreach divides by the root: d = sqrt(v) / sqrt(1 − β2^t) + ε.
  template <class F, class V, class H, class P>
  static void update_foreach(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    grad = adam_moments<NAdam>(f, h, param, std::move(grad), s);
    auto denom = add(div(sqrt(s[exp_avg_sq]), t[bias_correction2_sqrt]), h[eps]);
    addcdiv_(param, grad, denom, t[grad_step]);
    addcdiv_(param, s[exp_avg], denom, t[avg_step]);
  }
};

}  // namespace descent::optim_math
