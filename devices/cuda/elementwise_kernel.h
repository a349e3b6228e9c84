#pragma once
// The strided elementwise launch shared by the binary/ternary ops and Copy:
// one thread (or loop iteration) per output element, operands read through
// their broadcast/permuted strides, math from devices/elementwise_math.h.
#include <thrust/for_each.h>

#include <utility>

#include "devices/cuda/thrust_system.h"

namespace descent::detail::DESCENT_THRUST_NS {

inline constexpr int kMaxInputs = 3;

// The iteration space after dropping unit dims and merging dims that every
// operand walks contiguously, so most launches divide by one or two sizes.
struct Layout {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxInputs][kMaxDims] = {};
  bool strided = false;  // some operand is not read at the output's own index

  template <int N>
  DESCENT_HOST_DEVICE void offsets(int64_t i, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d > 0; --d) {
      const int64_t q = i / sizes[d];
      const int64_t r = i - q * sizes[d];
      i = q;
      for (int k = 0; k < N; ++k) off[k] += r * strides[k][d];
    }
    if (ndim > 0)
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][0];
  }
};

// Builds the layout of a launch; operands flagged contiguous (and scalars,
// which are never read) get the output's own strides.
inline Layout make_layout(const ElementwiseArgs& args) {
  int64_t contiguous[kMaxDims];
  int64_t stride = 1;
  for (int d = args.ndim - 1; d >= 0; --d) {
    contiguous[d] = stride;
    stride *= args.sizes[d];
  }
  Layout layout;
  for (int k = 0; k < args.ninputs; ++k) {
    const Operand& op = args.inputs[k];
    if (!op.is_scalar && !op.contiguous) layout.strided = true;
  }
  for (int d = 0; d < args.ndim; ++d) {
    if (args.sizes[d] == 1) continue;
    int64_t s[kMaxInputs];
    for (int k = 0; k < kMaxInputs; ++k) {
      const bool own = k >= args.ninputs || args.inputs[k].is_scalar || args.inputs[k].contiguous;
      s[k] = own ? contiguous[d] : args.inputs[k].strides[d];
    }
    bool merge = layout.ndim > 0;
    for (int k = 0; merge && k < kMaxInputs; ++k)
      merge = layout.strides[k][layout.ndim - 1] == s[k] * args.sizes[d];
    if (merge) {
      layout.sizes[layout.ndim - 1] *= args.sizes[d];
    } else {
      layout.sizes[layout.ndim] = args.sizes[d];
      ++layout.ndim;
    }
    for (int k = 0; k < kMaxInputs; ++k) layout.strides[k][layout.ndim - 1] = s[k];
  }
  return layout;
}

// One operand as the kernel sees it: memory of storage type S, or a wrapped
// number already converted to the compute type T.
template <class T>
struct Input {
  const void* data = nullptr;
  T value{};
  bool scalar = false;

  template <class S>
  DESCENT_HOST_DEVICE T load(int64_t offset) const {
    return scalar ? value : math::convert<T>(static_cast<const S*>(data)[offset]);
  }
};

// out[i] = fn(inputs at i): C0 is the storage type of input 0 (bool for
// Where's condition), S that of the others, O that of the output.
template <class Fn, class T, class S, class C0, class O, int N>
struct ElementwiseKernel {
  Fn fn;
  Layout layout;
  Input<T> in[N];
  O* out;

  DESCENT_HOST_DEVICE void operator()(int64_t i) const {
    int64_t off[N];
    if (layout.strided) {
      layout.offsets(i, off);
    } else {
      for (int k = 0; k < N; ++k) off[k] = i;
    }
    const T a = in[0].template load<C0>(off[0]);
    if constexpr (N == 1) {
      out[i] = math::convert<O>(fn(a));
    } else if constexpr (N == 2) {
      out[i] = math::convert<O>(fn(a, in[1].template load<S>(off[1])));
    } else {
      out[i] = math::convert<O>(fn(a, in[1].template load<S>(off[1]), in[2].template load<S>(off[2])));
    }
  }
};

template <class T, class S, class C0, class O, int N, class Fn>
void launch_elementwise(const Fn& fn, const ElementwiseArgs& args) {
  ElementwiseKernel<Fn, T, S, C0, O, N> kernel{fn, make_layout(args), {}, static_cast<O*>(args.out)};
  for (int k = 0; k < N; ++k) {
    const Operand& op = args.inputs[k];
    kernel.in[k].data = op.data;
    kernel.in[k].scalar = op.is_scalar;
    if (op.is_scalar) kernel.in[k].value = math::scalar_as<T>(op.scalar);
  }
  thrust::for_each_n(policy(), first_index(), args.numel, kernel);
}

}  // namespace descent::detail::DESCENT_THRUST_NS
