#pragma once
// SparseAdam's update of the rows a sparse gradient touches (Kingma & Ba's
// Adam, lazily: only the moments the gradient shows change), in the op order
// of PyTorch's _functional.sparse_adam:
//
//   Δm = (g − m)·(1 − β1);  m = m + Δm
//   Δv = (g² − v)·(1 − β2);  v = v + Δv
//   θ = θ + ((Δm + m_old) / (sqrt(Δv + v_old) + ε))·(−γ·sqrt(1 − β2^t)/(1 − β1^t))
//
// g arrives coalesced, maximize already applied. Run over rows by
// Backend::fused_pointwise_rows.
#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct SparseAdam {
  enum Slot { exp_avg, exp_avg_sq, kSlots };
  enum Scalar { one_minus_beta1, one_minus_beta2, eps, kScalars };
  enum TensorScalar { neg_step_size, kTensorScalars };
  static constexpr unsigned kFlagBits = 0;
  static constexpr unsigned kSlotFlags[kSlots] = {0, 0};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F&, const H& h, const P& t, V& param, V grad, V* s) {
    const V old_m = s[exp_avg], old_v = s[exp_avg_sq];
    const V dm = mul(sub(grad, old_m), h[one_minus_beta1]);
    s[exp_avg] = add(old_m, dm);
    const V dv = mul(sub(mul(grad, grad), old_v), h[one_minus_beta2]);
    s[exp_avg_sq] = add(old_v, dv);
    const V numer = add(dm, old_m);
    const V denom = add(sqrt(add(dv, old_v)), h[eps]);
    param = add(param, mul(div(numer, denom), t[neg_step_size]));
  }
};

}  // namespace descent::optim_math
