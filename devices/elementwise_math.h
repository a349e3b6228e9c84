#pragma once
// The per-element math of every UnaryOp and BinaryOp, shared by the CPU
// backend and the CUDA/Thrust backend so both compute the same bits.
//
// Interface (stable):
// Types, conversions and the shared scalar helpers are in devices/math_basics.h.
//   math::unary_supported(op, c) / math::binary_supported(op, c)
//                                whether the op exists for opmath category c;
//                                backends throw NotImplementedError otherwise and
//                                only instantiate the functors below when true.
//   math::UnaryFn<Op, T>         T = opmath type; `auto operator()(T x) const`.
//                                Returns bool for IsFinite/IsNan/IsInf/LogicalNot,
//                                real_t<T> for Real/Imag/Angle and Abs, else T.
//   math::BinaryFn<Op, T>        T = opmath type of the computation; the arity of
//                                operator() is the launch's ninputs:
//     Copy (a)                   a (the backend converts dtypes on load/store)
//     Add/Sub (a, b)             a +/- alpha*b, alpha = s0 (real types: exactly
//                                a +/- b when unit_alpha; complex: always a + alpha*b)
//     Mul Div Pow Maximum Minimum Atan2 Remainder (a, b)
//     Eq..LogicalXor (a, b)      return bool
//     Lerp (a, b) / (a, b, w)    weight s0 or the third input
//     Addcmul/Addcdiv (a, b, c)  value s0
//     Where (cond, b, c)         cond is input 0 loaded as T (nonzero = true)
//     Clamp (a) / (a, bound) / (a, lo, hi)
//                                bounds from s0 (lo) / s1 (hi), or the tensor
//                                inputs (with two inputs, input 1 is lo when
//                                has_min, else hi); has_min/has_max say which
//                                bounds exist
//     ThresholdBackward (a, b)   b <= s0 ? 0 : a
//   math::arity_ok(op, ninputs)  whether such a launch is valid (else ValueError).
//   Pow: pow_mode says whether the exponent was a wrapped scalar that PyTorch
//   special-cases (x*x for 2, sqrt for 0.5, ...); General otherwise.
//   math::make_binary<Op, T>(args, compute_dtype) builds the functor from a
//   launch's arguments (host code).
//   math::scalar_operand<T>(value, compute_dtype, op, index)
//                                the opmath value of a wrapped-scalar operand
//                                (rounded to float16/bfloat16 first, except for
//                                mul/div's second operand, as PyTorch does).
//
// Op order follows PyTorch's CPU kernels, including where its build contracts
// a*b+c into one fused multiply-add (add/sub with alpha, addcmul, lerp):
// we call fma() explicitly there, since descent itself builds with
// -ffp-contract=off.
#include <cmath>
#include <complex>
#include <cstdint>
#include <type_traits>

#include "descent/devices/backend.h"
#include "descent/devices/dtype.h"
#include "devices/math_basics.h"

namespace descent::math {

constexpr bool unary_writes_bool(UnaryOp op) {
  return op == UnaryOp::IsFinite || op == UnaryOp::IsNan || op == UnaryOp::IsInf ||
         op == UnaryOp::LogicalNot;
}

constexpr bool binary_writes_bool(BinaryOp op) {
  switch (op) {
    case BinaryOp::Eq: case BinaryOp::Ne: case BinaryOp::Lt: case BinaryOp::Le:
    case BinaryOp::Gt: case BinaryOp::Ge: case BinaryOp::LogicalAnd: case BinaryOp::LogicalOr:
    case BinaryOp::LogicalXor:
      return true;
    default:
      return false;
  }
}

constexpr bool unary_supported(UnaryOp op, DtypeCategory c) {
  using U = UnaryOp;
  switch (op) {
    case U::IsFinite: case U::IsNan: case U::IsInf: case U::LogicalNot: case U::Conj: case U::Real:
    case U::Sign:
      return true;
    case U::Neg: case U::Abs: case U::Square:
      return c != DtypeCategory::Bool;
    case U::Relu:
      return c == DtypeCategory::Integral || c == DtypeCategory::Floating;
    case U::Imag:
      return c == DtypeCategory::Complex;
    case U::Angle: case U::Sqrt: case U::Rsqrt: case U::Exp: case U::Log: case U::Reciprocal:
    case U::Sigmoid: case U::Tanh: case U::Sin: case U::Cos: case U::Log1p: case U::Expm1:
      return c == DtypeCategory::Floating || c == DtypeCategory::Complex;
  }
  return false;
}

constexpr bool binary_supported(BinaryOp op, DtypeCategory c) {
  using B = BinaryOp;
  const bool is_bool = c == DtypeCategory::Bool, integral = c == DtypeCategory::Integral;
  const bool floating = c == DtypeCategory::Floating, complex = c == DtypeCategory::Complex;
  switch (op) {
    case B::Copy: case B::Eq: case B::Ne: case B::LogicalAnd: case B::LogicalOr: case B::LogicalXor:
    case B::Where:
      return true;
    case B::Add: case B::Mul:
      return true;
    case B::Maximum: case B::Minimum: case B::Lt: case B::Le: case B::Gt: case B::Ge:
      return !complex;
    case B::Sub: case B::Pow: case B::Addcmul:
      return !is_bool;
    case B::Remainder: case B::Clamp: case B::ThresholdBackward:
      return integral || floating;
    case B::Div: case B::Lerp: case B::Addcdiv:
      return floating || complex;
    case B::Atan2:
      return floating;
  }
  return false;
}

// Whether a launch of op with ninputs inputs has a matching operator() above.
constexpr bool arity_ok(BinaryOp op, int ninputs) {
  switch (op) {
    case BinaryOp::Copy: return ninputs == 1;
    case BinaryOp::Clamp: return ninputs >= 1 && ninputs <= 3;
    case BinaryOp::Lerp: return ninputs == 2 || ninputs == 3;
    case BinaryOp::Addcmul: case BinaryOp::Addcdiv: case BinaryOp::Where: return ninputs == 3;
    default: return ninputs == 2;
  }
}

// How Pow treats a wrapped-scalar exponent (PyTorch's pow_tensor_scalar fast paths).
// The BFloat16 modes round x*x to bfloat16 before the next operation, as
// PyTorch's Vectorized<BFloat16> arithmetic rounds after every operation.
enum class PowMode : int8_t { General, Sqrt, Rsqrt, Reciprocal, Square, Cube, InvSquare, CubeBFloat16, InvSquareBFloat16 };

// dtype: the computation's dtype (the fast paths differ between float16 and bfloat16).
inline PowMode pow_mode_for(std::complex<double> e, Dtype dtype) {
  if (e.imag() != 0.0) return PowMode::General;
  const double x = e.real();
  if (dtype == kInt64) {
    if (x == 2.0) return PowMode::Square;
    if (x == 3.0) return PowMode::Cube;
    return PowMode::General;
  }
  const bool full = dtype == kFloat32 || dtype == kFloat64 || is_complex(dtype);
  if (full || dtype == kBFloat16) {
    if (x == 0.5) return PowMode::Sqrt;
    if (x == -0.5) return PowMode::Rsqrt;
    if (x == -1.0) return PowMode::Reciprocal;
  }
  if (full || dtype == kBFloat16) {
    if (x == 2.0) return PowMode::Square;
    if (x == 3.0) return full ? PowMode::Cube : PowMode::CubeBFloat16;
    if (x == -2.0) return full ? PowMode::InvSquare : PowMode::InvSquareBFloat16;
  }
  return PowMode::General;
}

// Integer power by squaring, wrapping on overflow like PyTorch's powi.
DESCENT_HOST_DEVICE inline int64_t int_pow(int64_t base, int64_t exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exp % 2) ? -1 : 1;
    return 0;
  }
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  while (exp) {
    if (exp & 1) result *= b;
    exp >>= 1;
    b *= b;
  }
  return static_cast<int64_t>(result);
}

template <class T>
DESCENT_HOST_DEVICE inline T log1p_(T z) {
  using std::abs;
  using std::atan2;
  using std::hypot;
  using std::log;
  using std::log1p;
  if constexpr (is_complex_v<T>) {
    // PyTorch's formulation, accurate for small |z|.
    using R = real_t<T>;
    const R x = z.real(), y = z.imag();
    const R theta = atan2(y, x + R(1));
    if (abs(z) < R(0.5)) {
      const R r = x * (R(2) + x) + y * y;
      if (r == R(0)) return T(x, theta);
      return T(R(0.5) * log1p(r), theta);
    }
    return T(log(hypot(x + R(1), y)), theta);
  } else {
    return log1p(z);
  }
}

template <class T>
DESCENT_HOST_DEVICE inline T expm1_(T z) {
  using std::cos;
  using std::exp;
  using std::expm1;
  using std::sin;
  if constexpr (is_complex_v<T>) {
    using R = real_t<T>;
    const R x = z.real(), y = z.imag();
    const R a = sin(y / R(2));
    return T(expm1(x) * cos(y) - R(2) * a * a, exp(x) * sin(y));
  } else {
    return expm1(z);
  }
}

// ---- unary ---------------------------------------------------------------

template <UnaryOp Op, class T>
struct UnaryFn {
  DESCENT_HOST_DEVICE auto operator()(T x) const {
    using R = real_t<T>;
    using U = UnaryOp;
    using std::abs;
    using std::atan2;
    using std::cos;
    using std::exp;
    using std::log;
    using std::sin;
    using std::sqrt;
    using std::tanh;
    if constexpr (Op == U::IsFinite) return is_finite(x);
    else if constexpr (Op == U::IsNan) return is_nan(x);
    else if constexpr (Op == U::IsInf) return is_inf(x);
    else if constexpr (Op == U::LogicalNot) return !nonzero(x);
    else if constexpr (Op == U::Real) {
      if constexpr (is_complex_v<T>) return x.real();
      else return x;
    } else if constexpr (Op == U::Imag) {
      return x.imag();
    } else if constexpr (Op == U::Conj) {
      if constexpr (is_complex_v<T>) return T(x.real(), -x.imag());
      else return x;
    } else if constexpr (Op == U::Neg) {
      return -x;
    } else if constexpr (Op == U::Abs) {
      return static_cast<R>(abs(x));
    } else if constexpr (Op == U::Angle) {
      if constexpr (is_complex_v<T>) return atan2(x.imag(), x.real());
      else return is_nan(x) ? x : (x < T(0) ? T(3.14159265358979323846) : T(0));
    } else if constexpr (Op == U::Sign) {
      if constexpr (is_complex_v<T>) {
        if (!nonzero(x)) return T(0);
        const R m = abs(x);
        return T(x.real() / m, x.imag() / m);
      } else {
        return static_cast<T>((T(0) < x) - (x < T(0)));
      }
    } else if constexpr (Op == U::Square) {
      return mul(x, x);
    } else if constexpr (Op == U::Relu) {
      return x < T(0) ? T(0) : x;  // nan and -0.0 pass through, as clamp_min(x, 0)
    } else if constexpr (Op == U::Sqrt) {
      return sqrt(x);
    } else if constexpr (Op == U::Rsqrt) {
      return div(T(1), sqrt(x));
    } else if constexpr (Op == U::Reciprocal) {
      return div(T(1), x);
    } else if constexpr (Op == U::Exp) {
      return exp(x);
    } else if constexpr (Op == U::Log) {
      return log(x);
    } else if constexpr (Op == U::Log1p) {
      return log1p_(x);
    } else if constexpr (Op == U::Expm1) {
      return expm1_(x);
    } else if constexpr (Op == U::Sigmoid) {
      return div(T(1), T(1) + exp(-x));
    } else if constexpr (Op == U::Tanh) {
      return tanh(x);
    } else if constexpr (Op == U::Sin) {
      return sin(x);
    } else {
      static_assert(Op == U::Cos);
      return cos(x);
    }
  }
};

// ---- binary and ternary --------------------------------------------------

template <BinaryOp Op, class T>
struct BinaryFn {
  T s0{}, s1{};
  bool unit_alpha = true;
  bool has_min = false, has_max = false;
  PowMode pow_mode = PowMode::General;

  DESCENT_HOST_DEVICE auto operator()(T a, T b) const {
    using B = BinaryOp;
    using std::atan2;
    using std::fmod;
    if constexpr (Op == B::Add) {
      if constexpr (std::is_same_v<T, bool>) return a || b;
      else if constexpr (is_complex_v<T>) return a + mul(s0, b);  // as PyTorch, even for alpha = 1: NaNs spread
      else return unit_alpha ? add(a, b) : fused_mul_add(s0, b, a);
    } else if constexpr (Op == B::Sub) {
      if constexpr (is_complex_v<T>) return a + mul(-s0, b);
      else return unit_alpha ? sub(a, b) : fused_mul_add(-s0, b, a);
    } else if constexpr (Op == B::Mul) {
      if constexpr (std::is_same_v<T, bool>) return a && b;
      else return mul(a, b);
    } else if constexpr (Op == B::Div) {
      return div(a, b);
    } else if constexpr (Op == B::Pow) {
      return power(a, b);
    } else if constexpr (Op == B::Maximum) {
      return maximum(a, b);
    } else if constexpr (Op == B::Minimum) {
      return minimum(a, b);
    } else if constexpr (Op == B::Atan2) {
      return atan2(a, b);
    } else if constexpr (Op == B::Remainder) {
      if constexpr (std::is_integral_v<T>) {
        if (b == 0 || b == -1) return T(0);  // b == 0 is rejected by the backend first
        T r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      } else {
        T r = fmod(a, b);
        return (r != T(0) && ((b < T(0)) != (r < T(0)))) ? r + b : r;
      }
    } else if constexpr (Op == B::Eq) {
      return a == b;
    } else if constexpr (Op == B::Ne) {
      return a != b;
    } else if constexpr (Op == B::Lt) {
      return a < b;
    } else if constexpr (Op == B::Le) {
      return a <= b;
    } else if constexpr (Op == B::Gt) {
      return a > b;
    } else if constexpr (Op == B::Ge) {
      return a >= b;
    } else if constexpr (Op == B::LogicalAnd) {
      return nonzero(a) && nonzero(b);
    } else if constexpr (Op == B::LogicalOr) {
      return nonzero(a) || nonzero(b);
    } else if constexpr (Op == B::LogicalXor) {
      return nonzero(a) != nonzero(b);
    } else if constexpr (Op == B::Lerp) {
      return lerp(a, b, s0);
    } else if constexpr (Op == B::Clamp) {
      return clamp(a, has_min ? b : s0, has_min ? s1 : b);
    } else if constexpr (Op == B::ThresholdBackward) {
      return b <= s0 ? T(0) : a;
    } else {
      return a;  // three-input ops; arity_ok() rejects such launches first
    }
  }

  DESCENT_HOST_DEVICE T operator()(T a, T b, T c) const {
    using B = BinaryOp;
    if constexpr (Op == B::Lerp) {
      return lerp(a, b, c);
    } else if constexpr (Op == B::Addcmul) {
      return fused_mul_add(mul(s0, b), c, a);
    } else if constexpr (Op == B::Addcdiv) {
      return a + div(mul(s0, b), c);
    } else if constexpr (Op == B::Where) {
      return nonzero(a) ? b : c;
    } else if constexpr (Op == B::Clamp) {
      return clamp(a, b, c);
    } else {
      return a;  // two-input ops; arity_ok() rejects such launches first
    }
  }

  // Copy, and Clamp with scalar bounds.
  DESCENT_HOST_DEVICE T operator()(T a) const {
    if constexpr (Op == BinaryOp::Clamp) return clamp(a, s0, s1);
    else return a;
  }

 private:
  DESCENT_HOST_DEVICE T clamp(T x, T lo, T hi) const {
    if constexpr (is_complex_v<T>) {
      return x;
    } else {
      if (has_min) {
        if (is_nan(lo)) return lo;
        x = x < lo ? lo : x;
      }
      if (has_max) {
        if (is_nan(hi)) return hi;
        x = hi < x ? hi : x;
      }
      return x;
    }
  }

  // PyTorch: small |w| interpolates from a, large from b, each as one fma.
  // torch.lerp: from the start when |w| < 0.5 (for complex w, PyTorch tests
  // re*re + im*im < 0.25), else from the end.
  DESCENT_HOST_DEVICE static T lerp(T a, T b, T w) {
    using std::abs;
    const T d = b - a;
    bool small;
    if constexpr (is_complex_v<T>)
      small = rounded(w.real() * w.real()) + rounded(w.imag() * w.imag()) < real_t<T>(0.25);
    else
      small = abs(w) < T(0.5);
    if (small) return fused_mul_add(w, d, a);
    return fused_mul_add(w - T(1), d, b);
  }

  DESCENT_HOST_DEVICE T power(T a, T b) const {
    using std::pow;
    using std::sqrt;
    switch (pow_mode) {
      case PowMode::Sqrt:
        if constexpr (!std::is_integral_v<T>) return sqrt(a);
        break;
      case PowMode::Rsqrt:
        if constexpr (!std::is_integral_v<T>) return div(T(1), sqrt(a));
        break;
      case PowMode::Reciprocal: return div(T(1), a);
      case PowMode::Square: return mul(a, a);
      case PowMode::Cube: return mul(mul(a, a), a);
      case PowMode::InvSquare: return div(T(1), mul(a, a));
      case PowMode::CubeBFloat16:
        if constexpr (std::is_same_v<T, float>) return static_cast<float>(BFloat16(a * a)) * a;
        break;
      case PowMode::InvSquareBFloat16:
        if constexpr (std::is_same_v<T, float>) return T(1) / static_cast<float>(BFloat16(a * a));
        break;
      case PowMode::General: break;
    }
    if constexpr (std::is_integral_v<T>) return static_cast<T>(int_pow(a, b));
    else return static_cast<T>(pow(a, b));
  }
};

template <class T>
T scalar_as(std::complex<double> v) {
  if constexpr (is_complex_v<T>) return T(static_cast<real_t<T>>(v.real()), static_cast<real_t<T>>(v.imag()));
  else if constexpr (std::is_same_v<T, bool>) return v.real() != 0.0 || v.imag() != 0.0;
  else return static_cast<T>(v.real());
}

// The value of a wrapped-scalar operand (input `index`) in opmath. PyTorch
// converts it to the computation's dtype first, except in mul and div where
// a float16/bfloat16 kernel reads the original number in float (a property
// of those two kernels, measured against PyTorch 2.x on the CPU).
template <class T>
T scalar_operand(std::complex<double> v, Dtype compute_dtype, BinaryOp op, int index) {
  if constexpr (std::is_same_v<T, float>) {
    const bool original = (op == BinaryOp::Mul || op == BinaryOp::Div) && index == 1;
    if (!original && compute_dtype == kFloat16) return static_cast<float>(Half(static_cast<float>(v.real())));
    if (!original && compute_dtype == kBFloat16) return static_cast<float>(BFloat16(static_cast<float>(v.real())));
  }
  return scalar_as<T>(v);
}

// compute_dtype: the dtype whose opmath T is (for Pow's fast paths).
template <BinaryOp Op, class T>
BinaryFn<Op, T> make_binary(const ElementwiseArgs& args, Dtype compute_dtype) {
  BinaryFn<Op, T> fn;
  fn.s0 = scalar_as<T>(args.scalars[0]);
  fn.s1 = scalar_as<T>(args.scalars[1]);
  fn.unit_alpha = args.scalars[0] == std::complex<double>(1.0, 0.0);
  fn.has_min = args.has_min;
  fn.has_max = args.has_max;
  if constexpr ((Op == BinaryOp::Add || Op == BinaryOp::Sub) && std::is_same_v<T, float>) {
    // PyTorch converts alpha to float16/bfloat16 tensors' own dtype (value and weight stay float).
    if (compute_dtype == kFloat16) fn.s0 = static_cast<float>(Half(fn.s0));
    if (compute_dtype == kBFloat16) fn.s0 = static_cast<float>(BFloat16(fn.s0));
  }
  if constexpr (Op == BinaryOp::Pow) {
    if (args.ninputs >= 2 && args.inputs[1].is_scalar) fn.pow_mode = pow_mode_for(args.inputs[1].scalar, compute_dtype);
  }
  return fn;
}

}  // namespace descent::math
