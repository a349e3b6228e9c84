#pragma once
// 16-bit floating-point storage types. Arithmetic always happens in float
// ("opmath", as in PyTorch) and is rounded once, to nearest-even, when stored.
// The conversions are plain bit manipulation so the same code serves the CPU
// backend, CUDA device code and Thrust's host device system.
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define DESCENT_HOST_DEVICE __host__ __device__
#else
#define DESCENT_HOST_DEVICE
#endif

namespace descent {

namespace detail {
DESCENT_HOST_DEVICE inline uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
DESCENT_HOST_DEVICE inline float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

DESCENT_HOST_DEVICE inline uint16_t float_to_half_bits(float f) {
  uint32_t x = float_bits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan; keep nan quiet
    return static_cast<uint16_t>(sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {
    // Subnormal half: add a magic number so the FPU does the rounding.
    float magic = bits_float(0x3f000000u);  // 0.5: aligns the half subnormal ulp (2^-24)
    float r = bits_float(abs) + magic;
    return static_cast<uint16_t>(sign | (float_bits(r) - 0x3f000000u));
  }
  uint32_t mant_odd = (abs >> 13) & 1u;
  abs += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
  return static_cast<uint16_t>(sign | (abs >> 13));
}

DESCENT_HOST_DEVICE inline float half_bits_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return bits_float(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bits_float(sign);
    float v = static_cast<float>(mant) * bits_float(0x33800000u);  // mant * 2^-24
    return sign ? -v : v;
  }
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

DESCENT_HOST_DEVICE inline uint16_t float_to_bfloat16_bits(float f) {
  uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;  // canonical quiet nan, as PyTorch
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}
DESCENT_HOST_DEVICE inline float bfloat16_bits_to_float(uint16_t b) {
  return bits_float(static_cast<uint32_t>(b) << 16);
}
}  // namespace detail

/// IEEE 754 binary16 (float16), stored in 16 bits; arithmetic goes through float.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  DESCENT_HOST_DEVICE Half(float f) : bits(detail::float_to_half_bits(f)) {}
  DESCENT_HOST_DEVICE operator float() const { return detail::half_bits_to_float(bits); }
  DESCENT_HOST_DEVICE static Half from_bits(uint16_t b) {
    Half h;
    h.bits = b;
    return h;
  }
};

/// bfloat16: float32's exponent with an 8-bit mantissa, stored in 16 bits; arithmetic goes through float.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  DESCENT_HOST_DEVICE BFloat16(float f) : bits(detail::float_to_bfloat16_bits(f)) {}
  DESCENT_HOST_DEVICE operator float() const { return detail::bfloat16_bits_to_float(bits); }
  DESCENT_HOST_DEVICE static BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
};

}  // namespace descent
