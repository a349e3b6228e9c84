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

// The choices an update makes once per step. The CPU kernels take them as
// compile-time constants (StaticAdamFlags, StaticSgdFlags), so every variant
// is a straight loop the compiler vectorises; CUDA threads branch on the
// runtime values (AdamFlags, SgdFlags), which are uniform across a launch.
// maximize and AdamW's decay are not flags: they are exact multiplications
// (by -1, and by 1 when there is no decay).
struct AdamFlags {
  bool l2_weight_decay, lerp_from_start, amsgrad, unscale;
};
template <bool L2WeightDecay, bool LerpFromStart, bool Amsgrad, bool Unscale>
struct StaticAdamFlags {
  static constexpr bool l2_weight_decay = L2WeightDecay, lerp_from_start = LerpFromStart, amsgrad = Amsgrad,
                        unscale = Unscale;
};

struct SgdFlags {
  bool weight_decay, unscale, momentum, nesterov, first_step;
};
template <bool WeightDecay, bool Unscale, bool Momentum, bool Nesterov, bool FirstStep>
struct StaticSgdFlags {
  static constexpr bool weight_decay = WeightDecay, unscale = Unscale, momentum = Momentum, nesterov = Nesterov,
                        first_step = FirstStep;
};

// Host scalars of one Adam step, rounded to the compute type once.
template <class T>
struct AdamScalars {
  T grad_sign, weight_decay, decay_keep, lerp_weight, lerp_weight_minus_one, beta2, one_minus_beta2, neg_step_size,
      bias_correction2_sqrt, eps;

  AdamScalars(const FusedAdamArgs& a, const FusedTensor& t)
      : grad_sign(a.maximize ? T(-1) : T(1)),
        weight_decay(static_cast<T>(a.weight_decay)),
        decay_keep(a.decoupled_weight_decay ? static_cast<T>(1.0 - a.lr * a.weight_decay) : T(1)),
        lerp_weight(static_cast<T>(1.0 - a.beta1)),
        lerp_weight_minus_one(lerp_weight - T(1)),
        beta2(static_cast<T>(a.beta2)),
        one_minus_beta2(static_cast<T>(1.0 - a.beta2)),
        neg_step_size(static_cast<T>(-t.step_size)),
        bias_correction2_sqrt(static_cast<T>(t.bias_correction2_sqrt)),
        eps(static_cast<T>(a.eps)) {}
};

template <class T>
AdamFlags adam_flags(const FusedAdamArgs& a) {
  const T lerp_weight = static_cast<T>(1.0 - a.beta1);
  return {.l2_weight_decay = a.weight_decay != 0.0 && !a.decoupled_weight_decay,
          // torch.lerp's rule: from the start when |weight| < 0.5, else from the end.
          .lerp_from_start = lerp_weight < T(0.5) && lerp_weight > T(-0.5),
          .amsgrad = a.amsgrad,
          .unscale = a.amp.grad_scale != nullptr};
}

// One element of Adam/AdamW; g is the (unscaled) gradient and vmax is read
// and written only under amsgrad.
template <class T, class F>
DESCENT_HOST_DEVICE inline void adam_element(const AdamScalars<T>& s, const F& flags, T& p, T g, T& m, T& v,
                                             T& vmax) {
  g = g * s.grad_sign;
  if (flags.l2_weight_decay) g = math::fused_mul_add(s.weight_decay, p, g);
  p = p * s.decay_keep;
  const T d = g - m;
  m = flags.lerp_from_start ? math::fused_mul_add(s.lerp_weight, d, m)
                            : math::fused_mul_add(s.lerp_weight_minus_one, d, g);
  v = v * s.beta2;
  v = math::fused_mul_add(s.one_minus_beta2 * g, g, v);
  T second = v;
  if (flags.amsgrad) {
    // torch.maximum: NaN propagates.
    vmax = (vmax != vmax || vmax > v) ? vmax : v;
    second = vmax;
  }
  using std::sqrt;
  const T denom = sqrt(second) / s.bias_correction2_sqrt + s.eps;
  p = p + (s.neg_step_size * m) / denom;
}

// Reads gradient i in the compute type; under AMP unscales it and writes the
// unscaled value back (PyTorch's fused kernels leave grads unscaled).
template <class T, class F, class S>
DESCENT_HOST_DEVICE inline T load_grad(const F& flags, S* grad, int64_t i, T grad_scale) {
  T g = math::convert<T>(grad[i]);
  if (flags.unscale) {
    g = g / grad_scale;
    grad[i] = math::convert<S>(g);
  }
  return g;
}

// Element i of one tensor's Adam update, read from and stored back to the
// storage type S; vmax is touched only under amsgrad.
template <class T, class F, class S>
DESCENT_HOST_DEVICE inline void adam_update(const AdamScalars<T>& s, const F& flags, T grad_scale, int64_t i, S* p,
                                            S* g, S* m, S* v, S* vmax) {
  T pi = math::convert<T>(p[i]), mi = math::convert<T>(m[i]), vi = math::convert<T>(v[i]);
  T wi = flags.amsgrad ? math::convert<T>(vmax[i]) : T(0);
  adam_element<T>(s, flags, pi, load_grad<T>(flags, g, i, grad_scale), mi, vi, wi);
  p[i] = math::convert<S>(pi);
  m[i] = math::convert<S>(mi);
  v[i] = math::convert<S>(vi);
  if (flags.amsgrad) vmax[i] = math::convert<S>(wi);
}

template <class T>
struct SgdScalars {
  T grad_sign, weight_decay, momentum, one_minus_dampening, neg_lr;

  explicit SgdScalars(const FusedSgdArgs& a)
      : grad_sign(a.maximize ? T(-1) : T(1)),
        weight_decay(static_cast<T>(a.weight_decay)),
        momentum(static_cast<T>(a.momentum)),
        one_minus_dampening(static_cast<T>(1.0 - a.dampening)),
        neg_lr(static_cast<T>(-a.lr)) {}
};

inline SgdFlags sgd_flags(const FusedSgdArgs& a) {
  const bool momentum = a.momentum != 0.0;
  return {.weight_decay = a.weight_decay != 0.0,
          .unscale = a.amp.grad_scale != nullptr,
          .momentum = momentum,
          .nesterov = momentum && a.nesterov,
          .first_step = momentum && a.is_first_step};
}

// One element of SGD; buf (the momentum buffer) is used only under momentum.
template <class T, class F>
DESCENT_HOST_DEVICE inline void sgd_element(const SgdScalars<T>& s, const F& flags, T& p, T g, T& buf) {
  g = g * s.grad_sign;
  if (flags.weight_decay) g = math::fused_mul_add(s.weight_decay, p, g);
  if (flags.momentum) {
    buf = flags.first_step ? g : math::fused_mul_add(s.one_minus_dampening, g, buf * s.momentum);
    g = flags.nesterov ? math::fused_mul_add(s.momentum, buf, g) : buf;
  }
  p = math::fused_mul_add(s.neg_lr, g, p);
}

// Element i of one tensor's SGD update; the first step writes the buffer
// without reading it (it is uninitialised).
template <class T, class F, class S>
DESCENT_HOST_DEVICE inline void sgd_update(const SgdScalars<T>& s, const F& flags, T grad_scale, int64_t i, S* p, S* g,
                                           S* buf) {
  T pi = math::convert<T>(p[i]);
  T bi = flags.momentum && !flags.first_step ? math::convert<T>(buf[i]) : T(0);
  sgd_element<T>(s, flags, pi, load_grad<T>(flags, g, i, grad_scale), bi);
  p[i] = math::convert<S>(pi);
  if (flags.momentum) buf[i] = math::convert<S>(bi);
}

}  // namespace descent::fused
