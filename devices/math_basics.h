#pragma once
// The element types and scalar helpers every kernel shares (CPU, CUDA and
// the fused optimizer kernels): opmath types, complex traits, PyTorch's
// element conversions, op names for messages, and the few operations whose
// rounding must be identical everywhere (complex mul/div, fused multiply-add,
// NaN-propagating max/min).
//
//   math::opmath_t<T>      compute type of a storage type (Half/BFloat16 -> float).
//   math::is_complex_v<T>, math::real_t<T>, math::category_of<T>()
//   math::convert<To>(x)   PyTorch's element conversion between any two of the
//                          8 storage/opmath types (complex -> real keeps the real
//                          part, -> bool is != 0, float -> int64 truncates,
//                          double -> float16 goes through float).
//   math::op_name(op)      "add", "sqrt", "sum"...: for error messages.
//
// Complex types: std::complex on the CPU, thrust::complex on CUDA. The code
// only uses .real(), .imag(), T(re, im) and unqualified math calls (with the
// std overloads brought in by using-declarations), so both work.
#include <cmath>
#include <complex>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "descent/devices/backend.h"
#include "descent/devices/dtype.h"
#include "descent/devices/half.h"

namespace descent::math {

template <class T> struct opmath { using type = T; };
template <> struct opmath<Half> { using type = float; };
template <> struct opmath<BFloat16> { using type = float; };
template <class T> using opmath_t = typename opmath<T>::type;

template <class T, class = void> struct is_complex_type : std::false_type {};
template <class T>
struct is_complex_type<T, std::void_t<typename T::value_type, decltype(std::declval<const T&>().imag())>>
    : std::true_type {};
template <class T> inline constexpr bool is_complex_v = is_complex_type<T>::value;

template <class T, bool = is_complex_v<T>> struct real_type { using type = T; };
template <class T> struct real_type<T, true> { using type = typename T::value_type; };
template <class T> using real_t = typename real_type<T>::type;

template <class T>
constexpr DtypeCategory category_of() {
  if constexpr (std::is_same_v<T, bool>) return DtypeCategory::Bool;
  else if constexpr (std::is_integral_v<T>) return DtypeCategory::Integral;
  else if constexpr (is_complex_v<T>) return DtypeCategory::Complex;
  else return DtypeCategory::Floating;
}

// ---- conversions ---------------------------------------------------------

template <class T>
inline constexpr bool is_reduced_float_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <class To, class From>
DESCENT_HOST_DEVICE inline To convert(From x) {
  if constexpr (std::is_same_v<To, From>) {
    return x;
  } else if constexpr (is_reduced_float_v<From>) {
    return convert<To>(static_cast<float>(x));
  } else if constexpr (is_complex_v<From>) {
    if constexpr (std::is_same_v<To, bool>) return x.real() != 0 || x.imag() != 0;
    else if constexpr (is_complex_v<To>) return To(static_cast<real_t<To>>(x.real()), static_cast<real_t<To>>(x.imag()));
    else return convert<To>(x.real());
  } else if constexpr (is_complex_v<To>) {
    return To(convert<real_t<To>>(x), real_t<To>(0));
  } else if constexpr (std::is_same_v<To, bool>) {
    return x != From(0);
  } else if constexpr (is_reduced_float_v<To>) {
    return To(static_cast<float>(x));
  } else {
    return static_cast<To>(x);
  }
}

constexpr const char* op_name(UnaryOp op) {
  constexpr const char* names[] = {"neg", "abs", "sign", "sqrt", "rsqrt", "exp", "log", "reciprocal",
                                   "sigmoid", "tanh", "relu", "conj", "sin", "cos", "square", "log1p",
                                   "expm1", "isfinite", "isnan", "isinf", "logical_not", "real", "imag",
                                   "angle"};
  const int i = static_cast<int>(op);
  return i >= 0 && i < static_cast<int>(sizeof names / sizeof names[0]) ? names[i] : "unknown unary op";
}

constexpr const char* op_name(BinaryOp op) {
  constexpr const char* names[] = {"copy", "add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2",
                                   "remainder", "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                                   "logical_or", "logical_xor", "lerp", "addcmul", "addcdiv", "where",
                                   "clamp", "threshold_backward"};
  const int i = static_cast<int>(op);
  return i >= 0 && i < static_cast<int>(sizeof names / sizeof names[0]) ? names[i] : "unknown binary op";
}

constexpr const char* op_name(ReduceOp op) {
  constexpr const char* names[] = {"sum", "mean", "max", "min", "norm", "norm", "norm", "all", "any", "prod"};
  const int i = static_cast<int>(op);
  return i >= 0 && i < static_cast<int>(sizeof names / sizeof names[0]) ? names[i] : "unknown reduction";
}

// ---- helpers -------------------------------------------------------------

template <class T>
DESCENT_HOST_DEVICE inline bool is_nan(T x) {
  if constexpr (is_complex_v<T>) return x.real() != x.real() || x.imag() != x.imag();
  else if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}

template <class T>
DESCENT_HOST_DEVICE inline bool is_finite(T x) {
  if constexpr (is_complex_v<T>) return is_finite(x.real()) && is_finite(x.imag());
  else if constexpr (std::is_floating_point_v<T>) return x - x == T(0);  // inf - inf and nan are nan
  else return true;
}

template <class T>
DESCENT_HOST_DEVICE inline bool is_inf(T x) {
  if constexpr (is_complex_v<T>) return is_inf(x.real()) || is_inf(x.imag());  // (nan, inf) is infinite
  else return !is_nan(x) && !is_finite(x);
}

template <class T>
DESCENT_HOST_DEVICE inline bool nonzero(T x) {
  if constexpr (is_complex_v<T>) return x.real() != 0 || x.imag() != 0;
  else return x != T(0);
}

// Keeps x rounded on its own: GCC's vectoriser recognises the complex product
// below and emits vfmaddsub (an FMA) even under -ffp-contract=off, where
// PyTorch's CPU kernels round each product.
template <class R>
DESCENT_HOST_DEVICE inline R rounded(R x) {
#if defined(__GNUC__) && __GNUC__ >= 12 && !defined(__clang__) && !defined(__CUDACC__)
  return __builtin_assoc_barrier(x);
#else
  return x;
#endif
}

// Complex products and quotients written out, as c10::complex does, so
// std::complex and thrust::complex round identically (no __muldc3 recovery).
// Integer products wrap, as PyTorch's do, instead of overflowing signed types.
template <class T>
DESCENT_HOST_DEVICE inline T mul(T a, T b) {
  if constexpr (is_complex_v<T>) {
    return T(rounded(a.real() * b.real()) - rounded(a.imag() * b.imag()),
             rounded(a.real() * b.imag()) + rounded(a.imag() * b.real()));
  } else if constexpr (std::is_same_v<T, bool>) {
    return a && b;
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// numpy's (Smith's) complex division, which c10::complex uses.
template <class T>
DESCENT_HOST_DEVICE inline T div(T a, T b) {
  if constexpr (is_complex_v<T>) {
    using R = real_t<T>;
    using std::abs;
    const R ar = a.real(), ai = a.imag(), c = b.real(), d = b.imag();
    const R abs_c = abs(c), abs_d = abs(d);
    if (abs_c >= abs_d) {
      if (abs_c == R(0) && abs_d == R(0)) return T(ar / abs_c, ai / abs_d);
      const R rat = d / c;
      const R scl = R(1) / (c + rounded(d * rat));
      return T((ar + rounded(ai * rat)) * scl, (ai - rounded(ar * rat)) * scl);
    }
    const R rat = c / d;
    const R scl = R(1) / (d + rounded(c * rat));
    return T((rounded(ar * rat) + ai) * scl, (rounded(ai * rat) - ar) * scl);
  } else {
    return a / b;
  }
}

// a + b, wrapping for signed integers as PyTorch's kernels do.
template <class T>
DESCENT_HOST_DEVICE inline T add(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <class T>
DESCENT_HOST_DEVICE inline T sub(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}

template <class T>
DESCENT_HOST_DEVICE inline T fused_mul_add(T a, T b, T c) {
  if constexpr (std::is_floating_point_v<T>) {
    using std::fma;
    return fma(a, b, c);
  } else {
    return add(mul(a, b), c);
  }
}

// NaN-propagating max/min with std::max's choice between equal values (a).
template <class T>
DESCENT_HOST_DEVICE inline T maximum(T a, T b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return a < b ? b : a;
}
template <class T>
DESCENT_HOST_DEVICE inline T minimum(T a, T b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return b < a ? b : a;
}

}  // namespace descent::math
