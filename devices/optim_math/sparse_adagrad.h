#pragma once
// Adagrad's update of the rows a sparse gradient touches, in the op order of
// its forloop sparse path (optim/adagrad.cpp, PyTorch's _make_sparse code):
//
//   s = s + g²;  θ = θ + (−clr)·(g / (sqrt(s) + ε))   (the last as one fma)
//
// g arrives coalesced, maximize already applied; weight decay is rejected
// with sparse grads. Run over rows by Backend::fused_pointwise_rows.
#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct SparseAdagrad {
  enum Slot { sum, kSlots };
  enum Scalar { eps, kScalars };
  enum TensorScalar { neg_clr, kTensorScalars };  // −γ/(1 + (t − 1)·lr_decay)
  static constexpr unsigned kFlagBits = 0;
  static constexpr unsigned kSlotFlags[kSlots] = {0};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F&, const H& h, const P& t, V& param, V grad, V* s) {
    s[sum] = add(s[sum], mul(grad, grad));
    const auto std_dev = add(sqrt(s[sum]), h[eps]);
    param = add(param, div(grad, std_dev), t[neg_clr]);
  }
};

}  // namespace descent::optim_math
