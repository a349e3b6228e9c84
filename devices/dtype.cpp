#include "descent/devices/dtype.h"

#include <atomic>

#include "descent/error.h"

namespace descent {

namespace {

std::atomic<Dtype> default_dtype{kFloat32};

// Position in the real lattice bool < int64 < {float16, bfloat16} < float32 < float64.
int real_rank(Dtype d) {
  switch (d) {
    case Dtype::Bool: return 0;
    case Dtype::Int64: return 1;
    case Dtype::Float16: case Dtype::BFloat16: return 2;
    case Dtype::Float32: return 3;
    default: return 4;
  }
}

Dtype promote_real(Dtype a, Dtype b) {
  if (a == b) return a;
  const int ra = real_rank(a), rb = real_rank(b);
  // float16 and bfloat16 cannot represent each other: both fit in float32.
  if (ra == 2 && rb == 2) return kFloat32;
  return ra >= rb ? a : b;
}

}  // namespace

std::size_t element_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::Bool: return 1;
    case Dtype::Float16: case Dtype::BFloat16: return 2;
    case Dtype::Float32: return 4;
    case Dtype::Int64: case Dtype::Float64: case Dtype::Complex64: return 8;
    case Dtype::Complex128: return 16;
  }
  raise<ValueError>("element_size: invalid dtype ", static_cast<int>(dtype));
}

std::string short_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::Bool: return "bool";
    case Dtype::Int64: return "int64";
    case Dtype::Float16: return "float16";
    case Dtype::BFloat16: return "bfloat16";
    case Dtype::Float32: return "float32";
    case Dtype::Float64: return "float64";
    case Dtype::Complex64: return "complex64";
    case Dtype::Complex128: return "complex128";
  }
  raise<ValueError>("short_name: invalid dtype ", static_cast<int>(dtype));
}

std::string to_string(Dtype dtype) { return "torch." + short_name(dtype); }

bool is_floating_point(Dtype dtype) {
  return dtype == kFloat16 || dtype == kBFloat16 || dtype == kFloat32 || dtype == kFloat64;
}

bool is_complex(Dtype dtype) { return dtype == kComplex64 || dtype == kComplex128; }

bool is_integral(Dtype dtype, bool include_bool) {
  return dtype == kInt64 || (include_bool && dtype == kBool);
}

Dtype to_real_dtype(Dtype dtype) {
  if (dtype == kComplex64) return kFloat32;
  if (dtype == kComplex128) return kFloat64;
  return dtype;
}

Dtype to_complex_dtype(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32: case Dtype::Complex64: return kComplex64;
    case Dtype::Float64: case Dtype::Complex128: return kComplex128;
    default:
      raise<TypeError>("to_complex_dtype: ", to_string(dtype),
                       " has no complex counterpart (only float32 -> complex64 and float64 -> complex128)");
  }
}

Dtype promote_types(Dtype a, Dtype b) {
  if (!is_complex(a) && !is_complex(b)) return promote_real(a, b);
  // complex64 holds float32 parts: anything wider than float32 needs complex128.
  return promote_real(to_real_dtype(a), to_real_dtype(b)) == kFloat64 ? kComplex128 : kComplex64;
}

DtypeCategory category(Dtype dtype) {
  if (dtype == kBool) return DtypeCategory::Bool;
  if (dtype == kInt64) return DtypeCategory::Integral;
  if (is_complex(dtype)) return DtypeCategory::Complex;
  return DtypeCategory::Floating;
}

Dtype get_default_dtype() { return default_dtype.load(std::memory_order_relaxed); }

void set_default_dtype(Dtype dtype) {
  if (!is_floating_point(dtype)) {
    raise<TypeError>("set_default_dtype: only floating-point types are supported as the default type, got ",
                     to_string(dtype), " (must be torch.float16, torch.bfloat16, torch.float32 or torch.float64)");
  }
  default_dtype.store(dtype, std::memory_order_relaxed);
}

}  // namespace descent
