#pragma once
// Per-element math of the fused optimizer kernels, shared by every backend.
// Each update evaluates exactly the rounding sequence of the optimizer's
// forloop (optimizers.md §0.3: add with alpha and addcmul as fma, lerp's
// two-sided fma, addcdiv as three roundings), so for float32/float64 the
// fused result equals the forloop's bit for bit. Float16/bfloat16 storage is
// computed in float and rounded once, at the store.
#include "descent/devices/backend.h"
#include "devices/elementwise_math.h"

namespace descent::fused {

// Host scalars of one Adam step, rounded to the compute type once.
template <class T>
struct AdamScalars {
  T weight_decay, decay_keep, lerp_weight, beta2, one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps;
  bool amsgrad, maximize, decoupled;

  AdamScalars(const FusedAdamArgs& a, const FusedTensor& t)
      : weight_decay(static_cast<T>(a.weight_decay)),
        decay_keep(static_cast<T>(1.0 - a.lr * a.weight_decay)),
        lerp_weight(static_cast<T>(1.0 - a.beta1)),
        beta2(static_cast<T>(a.beta2)),
        one_minus_beta2(static_cast<T>(1.0 - a.beta2)),
        neg_step_size(static_cast<T>(-t.step_size)),
        bias_correction2_sqrt(static_cast<T>(t.bias_correction2_sqrt)),
        eps(static_cast<T>(a.eps)),
        amsgrad(a.amsgrad),
        maximize(a.maximize),
        decoupled(a.decoupled_weight_decay) {}
};

template <class T>
DESCENT_HOST_DEVICE inline T lerp(T a, T b, T w) {
  T d = b - a;
  return w < T(0.5) && w > T(-0.5) ? math::fused_mul_add(w, d, a) : math::fused_mul_add(w - T(1), d, b);
}

// One element of Adam/AdamW; g is the (unscaled) gradient.
template <class T>
DESCENT_HOST_DEVICE inline void adam_element(const AdamScalars<T>& s, bool has_weight_decay, T& p, T g, T& m, T& v,
                                             T* vmax) {
  if (s.maximize) g = -g;
  if (has_weight_decay) {
    if (s.decoupled) {
      p = p * s.decay_keep;
    } else {
      g = math::fused_mul_add(s.weight_decay, p, g);
    }
  }
  m = lerp(m, g, s.lerp_weight);
  v = v * s.beta2;
  v = math::fused_mul_add(s.one_minus_beta2 * g, g, v);
  T second = v;
  if (vmax != nullptr) {
    // torch.maximum: NaN propagates.
    *vmax = (*vmax != *vmax || *vmax > v) ? *vmax : v;
    second = *vmax;
  }
  using std::sqrt;
  T denom = sqrt(second) / s.bias_correction2_sqrt + s.eps;
  p = p + (s.neg_step_size * m) / denom;
}

template <class T>
struct SgdScalars {
  T weight_decay, momentum, one_minus_dampening, neg_lr;
  bool maximize, nesterov, first;

  explicit SgdScalars(const FusedSgdArgs& a)
      : weight_decay(static_cast<T>(a.weight_decay)),
        momentum(static_cast<T>(a.momentum)),
        one_minus_dampening(static_cast<T>(1.0 - a.dampening)),
        neg_lr(static_cast<T>(-a.lr)),
        maximize(a.maximize),
        nesterov(a.nesterov),
        first(a.is_first_step) {}
};

// One element of SGD; buf is null without momentum.
template <class T>
DESCENT_HOST_DEVICE inline void sgd_element(const SgdScalars<T>& s, bool has_weight_decay, T& p, T g, T* buf) {
  if (s.maximize) g = -g;
  if (has_weight_decay) g = math::fused_mul_add(s.weight_decay, p, g);
  if (buf != nullptr) {
    *buf = s.first ? g : math::fused_mul_add(s.one_minus_dampening, g, *buf * s.momentum);
    g = s.nesterov ? math::fused_mul_add(s.momentum, *buf, g) : *buf;
  }
  p = math::fused_mul_add(s.neg_lr, g, p);
}

}  // namespace descent::fused
