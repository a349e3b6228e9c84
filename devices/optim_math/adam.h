#pragma once
// Adam and AdamW (Kingma & Ba, "Adam: A Method for Stochastic
// Optimization", 2014; Loshchilov & Hutter, "Decoupled Weight Decay
// Regularization", 2017; amsgrad: Reddi et al., "On the Convergence of Adam
// and Beyond", 2018).
//
//   g = -∇ if maximize else ∇;  θ = θ·(1 − γλ) if decoupled, else g += λθ
//   m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²;  v̂ = max(v̂, v) (amsgrad)
//   θ = θ − γ/(1 − β1^t) · m / (sqrt(v or v̂) / sqrt(1 − β2^t) + ε)
#include "devices/optim_math/adam_moments.h"
#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct Adam {
  enum Slot { exp_avg, exp_avg_sq, max_exp_avg_sq, kSlots };
  enum Scalar { weight_decay, decay_keep, lerp_weight, beta2, one_minus_beta2, eps, kScalars };
  enum TensorScalar { neg_step_size, bias_correction2_sqrt, kTensorScalars };  // −γ/(1 − β1^t), sqrt(1 − β2^t)
  enum Flag : unsigned { kMaximize = 1, kWeightDecay = 2, kDecoupled = 4, kAmsgrad = 8 };
  static constexpr unsigned kFlagBits = 4;
  // The forloop negates and decays a complex gradient before its real view.
  static constexpr bool kWeightDecayBeforeRealView = true;
  static constexpr unsigned kSlotFlags[kSlots] = {0, 0, kAmsgrad};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P& t, V& param, V grad, V* s) {
    adam_moments<Adam>(f, h, param, std::move(grad), s);
    V* second = &s[exp_avg_sq];
    if (f.has(kAmsgrad)) {
      maximum_(s[max_exp_avg_sq], s[exp_avg_sq]);
      second = &s[max_exp_avg_sq];
    }
    auto denom = add(div(sqrt(*second), t[bias_correction2_sqrt]), h[eps]);
    addcdiv_(param, s[exp_avg], denom, t[neg_step_size]);
  }
};

}  // namespace descent::optim_math
