#pragma once
// PyTorch's tensor primitives on one element, with the rounding of the CPU
// tensor ops (optimizers.md §0.3). An optimizer's update in
// devices/optim_math/<name>.h is written once against these names; the same
// names exist for whole tensors and tensor lists (optim/pointwise_ops.h), so
// the fused kernels (CPU and CUDA), the forloop and the foreach
// implementations all run one definition, and for float32/float64 the fused
// result equals the forloop's bit for bit.
//
// Element values are the kernel's compute type T (float or double); the
// scalars an update reads were rounded to T once, before the loop, as a
// tensor op rounds its Python-number operands. In-place forms (`mul_`) take
// the element by reference. Comparisons give bool, which `where` consumes.
#include <type_traits>

#include "devices/math_basics.h"

namespace descent::optim_math {

template <class T>
using if_element = std::enable_if_t<std::is_floating_point_v<T>, int>;

// a + alpha * b as one fma (a.add(b, alpha=alpha)).
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T add(T a, T b, T alpha) {
  return math::fused_mul_add(alpha, b, a);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T add(T a, T b) {
  return a + b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T sub(T a, T b) {
  return a - b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T mul(T a, T b) {
  return a * b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T div(T a, T b) {
  return a / b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T reciprocal(T a) {
  return T(1) / a;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T neg(T a) {
  return -a;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T sqrt(T a) {
  using std::sqrt;
  return sqrt(a);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T abs(T a) {
  using std::abs;
  return abs(a);
}
// torch.sign: -1, 0 or 1 (NaN gives 0, as (0 < x) - (x < 0)).
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T sign(T a) {
  return static_cast<T>((T(0) < a) - (a < T(0)));
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T maximum(T a, T b) {
  return math::maximum(a, b);
}
// clamp(a, lo, hi) as torch.clamp: NaN passes through, hi wins over lo.
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T clamp(T a, T lo, T hi) {
  if (a != a) return a;
  const T low = a < lo ? lo : a;
  return low > hi ? hi : low;
}
// a + value * b * c: value * b is rounded first (addcmul).
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T addcmul(T a, T b, T c, T value) {
  return math::fused_mul_add(value * b, c, a);
}
// a + (value * b) / c: three roundings (addcdiv).
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T addcdiv(T a, T b, T c, T value) {
  return a + (value * b) / c;
}
// torch.lerp: from the start when |w| < 0.5, else from the end.
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T lerp(T a, T b, T w) {
  const T d = b - a;
  return (w < T(0.5) && w > T(-0.5)) ? math::fused_mul_add(w, d, a) : math::fused_mul_add(w - T(1), d, b);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline bool gt(T a, T b) {
  return a > b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline bool lt(T a, T b) {
  return a < b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline bool eq(T a, T b) {
  return a == b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T where(bool condition, T a, T b) {
  return condition ? a : b;
}

// A copy that autograd may keep while the original is overwritten; an
// element is a value already.
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T tracked_copy(T a) {
  return a;
}

// A copy outside autograd's graph; an element is one already.
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline T detach(T a) {
  return a;
}

// In-place forms: what the tensor's method of the same name does.
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void add_(T& a, T b, T alpha) {
  a = add(a, b, alpha);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void add_(T& a, T b) {
  a = a + b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void sub_(T& a, T b) {
  a = a - b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void mul_(T& a, T b) {
  a = a * b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void div_(T& a, T b) {
  a = a / b;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void neg_(T& a) {
  a = -a;
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void sqrt_(T& a) {
  a = sqrt(a);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void clamp_(T& a, T lo, T hi) {
  a = clamp(a, lo, hi);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void addcmul_(T& a, T b, T c, T value) {
  a = addcmul(a, b, c, value);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void addcdiv_(T& a, T b, T c, T value) {
  a = addcdiv(a, b, c, value);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void lerp_(T& a, T b, T w) {
  a = lerp(a, b, w);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void copy_(T& a, T b) {
  a = b;
}
// torch.maximum(a, b, out=a).
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void maximum_(T& a, T b) {
  a = maximum(a, b);
}
template <class T, if_element<T> = 0>
DESCENT_HOST_DEVICE inline void masked_fill_(T& a, bool mask, T value) {
  a = where(mask, value, a);
}

}  // namespace descent::optim_math
