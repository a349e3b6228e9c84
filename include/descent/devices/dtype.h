#pragma once
// Element types and PyTorch's type-promotion lattice.
#include <complex>
#include <cstdint>
#include <string>

#include "descent/devices/half.h"

namespace descent {

enum class Dtype : int8_t { Bool, Int64, Float16, BFloat16, Float32, Float64, Complex64, Complex128 };

inline constexpr Dtype kBool = Dtype::Bool;
inline constexpr Dtype kInt64 = Dtype::Int64;
inline constexpr Dtype kLong = Dtype::Int64;
inline constexpr Dtype kFloat16 = Dtype::Float16;
inline constexpr Dtype kHalf = Dtype::Float16;
inline constexpr Dtype kBFloat16 = Dtype::BFloat16;
inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;
inline constexpr Dtype kDouble = Dtype::Float64;
inline constexpr Dtype kComplex64 = Dtype::Complex64;
inline constexpr Dtype kComplex128 = Dtype::Complex128;

inline constexpr int kNumDtypes = 8;

std::size_t element_size(Dtype dtype);
// "torch.float32"-style name, as PyTorch prints it.
std::string to_string(Dtype dtype);
// "float32"-style short name.
std::string short_name(Dtype dtype);
bool is_floating_point(Dtype dtype);  // float16, bfloat16, float32, float64
bool is_complex(Dtype dtype);
bool is_integral(Dtype dtype, bool include_bool);
// complex64 -> float32, complex128 -> float64, others unchanged.
Dtype to_real_dtype(Dtype dtype);
// float32 -> complex64, float64 -> complex128; float16/bfloat16 have no complex counterpart here.
Dtype to_complex_dtype(Dtype dtype);
// torch.promote_types: the smallest dtype to which both can be converted safely.
Dtype promote_types(Dtype a, Dtype b);

// The default floating dtype (torch.get_default_dtype / set_default_dtype).
Dtype get_default_dtype();
void set_default_dtype(Dtype dtype);

// Category used by promotion with wrapped scalars: bool < integral < floating < complex.
enum class DtypeCategory : int8_t { Bool, Integral, Floating, Complex };
DtypeCategory category(Dtype dtype);

/// The Dtype of the C++ element type T: dtype_of<float>::value is kFloat32.
template <typename T>
struct dtype_of;
/// @cond
template <> struct dtype_of<bool> { static constexpr Dtype value = kBool; };
template <> struct dtype_of<int64_t> { static constexpr Dtype value = kInt64; };
template <> struct dtype_of<Half> { static constexpr Dtype value = kFloat16; };
template <> struct dtype_of<BFloat16> { static constexpr Dtype value = kBFloat16; };
template <> struct dtype_of<float> { static constexpr Dtype value = kFloat32; };
template <> struct dtype_of<double> { static constexpr Dtype value = kFloat64; };
template <> struct dtype_of<std::complex<float>> { static constexpr Dtype value = kComplex64; };
template <> struct dtype_of<std::complex<double>> { static constexpr Dtype value = kComplex128; };
/// @endcond

// Calls fn(T{}) with T the C++ element type of dtype (PyTorch's AT_DISPATCH).
template <typename Fn>
decltype(auto) dispatch_dtype(Dtype dtype, Fn&& fn) {
  switch (dtype) {
    case Dtype::Bool: return fn(bool{});
    case Dtype::Int64: return fn(int64_t{});
    case Dtype::Float16: return fn(Half{});
    case Dtype::BFloat16: return fn(BFloat16{});
    case Dtype::Float32: return fn(float{});
    case Dtype::Float64: return fn(double{});
    case Dtype::Complex64: return fn(std::complex<float>{});
    case Dtype::Complex128: break;
  }
  return fn(std::complex<double>{});
}

}  // namespace descent
