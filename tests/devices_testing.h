#pragma once
// Helpers for the tests that call the CPU backend directly on raw buffers.
#include <algorithm>
#include <complex>
#include <functional>
#include <initializer_list>
#include <numeric>

#include "descent/devices/backend.h"

namespace descent::testing {

using c64 = std::complex<float>;
using c128 = std::complex<double>;

inline Backend& cpu() { return backend_for(kCPU); }

inline Operand tensor_in(const void* data, Dtype dtype, std::initializer_list<int64_t> strides = {}) {
  Operand op;
  op.data = data;
  op.dtype = dtype;
  std::copy(strides.begin(), strides.end(), op.strides.begin());
  op.contiguous = strides.size() == 0;
  return op;
}

inline Operand scalar_in(c128 value) {
  Operand op;
  op.is_scalar = true;
  op.scalar = value;
  op.contiguous = false;
  return op;
}

// A launch over `sizes`; contiguous operands get the output's strides.
inline ElementwiseArgs launch(std::initializer_list<int64_t> sizes, std::initializer_list<Operand> inputs, void* out,
                       Dtype out_dtype) {
  ElementwiseArgs args;
  args.ndim = static_cast<int>(sizes.size());
  std::copy(sizes.begin(), sizes.end(), args.sizes.begin());
  args.numel = std::accumulate(sizes.begin(), sizes.end(), int64_t{1}, std::multiplies<>());
  int j = 0;
  for (Operand op : inputs) {
    if (op.contiguous && !op.is_scalar) {
      for (int64_t d = args.ndim - 1, s = 1; d >= 0; s *= args.sizes[d--]) op.strides[d] = s;
    }
    args.inputs[j++] = op;
  }
  args.ninputs = j;
  args.out = out;
  args.out_dtype = out_dtype;
  return args;
}

}  // namespace descent::testing
