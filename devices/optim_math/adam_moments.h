#pragma once
// The first half of the Adam family's update, shared by NAdam and RAdam:
//   g = -∇ if maximize else ∇;  θ = θ·(1 − γλ) if decoupled, else g += λθ
//   m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²
// M names the slots (exp_avg, exp_avg_sq), the scalars (weight_decay,
// decay_keep = 1 − γλ, lerp_weight = 1 − β1, beta2, one_minus_beta2) and the
// flags (kMaximize, kWeightDecay, kDecoupled).
#include <utility>

#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

// Returns the gradient it used (negated, decayed): a caller that drops it
// frees that intermediate before the rest of the step, as PyTorch's foreach
// deletes it.
template <class M, class F, class V, class H>
DESCENT_HOST_DEVICE inline V adam_moments(const F& f, const H& h, V& param, V grad, V* s) {
  if (f.has(M::kMaximize)) grad = neg(std::move(grad));
  if (f.has(M::kWeightDecay | M::kDecoupled))
    mul_(param, h[M::decay_keep]);
  else if (f.has(M::kWeightDecay))
    grad = add(std::move(grad), param, h[M::weight_decay]);
  lerp_(s[M::exp_avg], grad, h[M::lerp_weight]);
  mul_(s[M::exp_avg_sq], h[M::beta2]);
  addcmul_(s[M::exp_avg_sq], grad, grad, h[M::one_minus_beta2]);
  return grad;
}

}  // namespace descent::optim_math
