// The unary ops (UnaryOp): contiguous input and output.
#include <thrust/device_vector.h>
#include <thrust/transform.h>

#include "devices/cuda/thrust_backend.h"

namespace descent::detail::DESCENT_THRUST_NS {

namespace {

template <UnaryOp Op>
using UnaryConstant = std::integral_constant<UnaryOp, Op>;

// Calls fn(UnaryConstant<op>{}) so each op is a compile-time parameter.
template <class Fn>
void dispatch_unary(UnaryOp op, Fn&& fn) {
  using U = UnaryOp;
  switch (op) {
    case U::Neg:
      return fn(UnaryConstant<U::Neg>{});
    case U::Abs:
      return fn(UnaryConstant<U::Abs>{});
    case U::Sign:
      return fn(UnaryConstant<U::Sign>{});
    case U::Sqrt:
      return fn(UnaryConstant<U::Sqrt>{});
    case U::Rsqrt:
      return fn(UnaryConstant<U::Rsqrt>{});
    case U::Exp:
      return fn(UnaryConstant<U::Exp>{});
    case U::Log:
      return fn(UnaryConstant<U::Log>{});
    case U::Reciprocal:
      return fn(UnaryConstant<U::Reciprocal>{});
    case U::Sigmoid:
      return fn(UnaryConstant<U::Sigmoid>{});
    case U::Tanh:
      return fn(UnaryConstant<U::Tanh>{});
    case U::Relu:
      return fn(UnaryConstant<U::Relu>{});
    case U::Conj:
      return fn(UnaryConstant<U::Conj>{});
    case U::Sin:
      return fn(UnaryConstant<U::Sin>{});
    case U::Cos:
      return fn(UnaryConstant<U::Cos>{});
    case U::Square:
      return fn(UnaryConstant<U::Square>{});
    case U::Log1p:
      return fn(UnaryConstant<U::Log1p>{});
    case U::Expm1:
      return fn(UnaryConstant<U::Expm1>{});
    case U::IsFinite:
      return fn(UnaryConstant<U::IsFinite>{});
    case U::IsNan:
      return fn(UnaryConstant<U::IsNan>{});
    case U::IsInf:
      return fn(UnaryConstant<U::IsInf>{});
    case U::LogicalNot:
      return fn(UnaryConstant<U::LogicalNot>{});
    case U::Real:
      return fn(UnaryConstant<U::Real>{});
    case U::Imag:
      return fn(UnaryConstant<U::Imag>{});
    case U::Angle:
      return fn(UnaryConstant<U::Angle>{});
  }
  raise<NotImplementedError>(math::op_name(op), ": unknown op ", static_cast<int>(op), " on ", kSystemName);
}

constexpr bool writes_real(UnaryOp op) {
  return op == UnaryOp::Abs || op == UnaryOp::Real || op == UnaryOp::Imag || op == UnaryOp::Angle;
}

template <class S>
struct real_storage {
  using type = S;
};
template <class R>
struct real_storage<thrust::complex<R>> {
  using type = R;
};

template <UnaryOp Op, class S, class O>
struct UnaryKernel {
  DESCENT_HOST_DEVICE O operator()(S x) const {
    using T = math::opmath_t<S>;
    return math::convert<O>(math::UnaryFn<Op, T>{}(math::convert<T>(x)));
  }
};

// The dtype the kernel for (op, dtype) writes.
Dtype natural_out(UnaryOp op, Dtype dtype) {
  if (math::unary_writes_bool(op)) return kBool;
  return writes_real(op) ? to_real_dtype(dtype) : dtype;
}

void run(UnaryOp op, Dtype dtype, const void* in, void* out, int64_t n) {
  dispatch_storage(dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    dispatch_unary(op, [&](auto constant) {
      constexpr UnaryOp Op = decltype(constant)::value;
      if constexpr (math::unary_supported(Op, math::category_of<math::opmath_t<S>>())) {
        using O = std::conditional_t<math::unary_writes_bool(Op), bool,
                                     std::conditional_t<writes_real(Op), typename real_storage<S>::type, S>>;
        const S* x = static_cast<const S*>(in);
        thrust::transform(policy(), x, x + n, static_cast<O*>(out), UnaryKernel<Op, S, O>{});
      }
    });
  });
}

}  // namespace

// Any output dtype is accepted, as on the CPU: the kernel writes its natural
// result into a scratch buffer that is then cast into place (16-bit inputs
// are widened to float32, their opmath type, first, so the result rounds once).
void unary(UnaryOp op, Dtype dtype, const void* in, void* out, Dtype out_dtype, int64_t n) {
  const char* name = math::op_name(op);
  if (n < 0) raise<ValueError>(name, ": invalid number of elements ", n);
  if (!math::unary_supported(op, category(dtype)))
    raise<NotImplementedError>(name, ": not implemented for ", to_string(dtype), " on ", kSystemName);
  if (n == 0) return;
  if (out_dtype == natural_out(op, dtype)) return run(op, dtype, in, out, n);
  const auto bytes = [n](Dtype d) { return static_cast<std::size_t>(n) * element_size(d); };
  // Sized at construction: resize() of an empty host-system vector memmoves from null.
  const bool widen = dtype == kFloat16 || dtype == kBFloat16;
  thrust::device_vector<uint8_t> widened(widen ? bytes(kFloat32) : 0);
  if (widen) {
    cast(in, dtype, thrust::raw_pointer_cast(widened.data()), kFloat32, n);
    in = thrust::raw_pointer_cast(widened.data());
    dtype = kFloat32;
  }
  const Dtype natural = natural_out(op, dtype);
  thrust::device_vector<uint8_t> result(bytes(natural));
  run(op, dtype, in, thrust::raw_pointer_cast(result.data()), n);
  cast(thrust::raw_pointer_cast(result.data()), natural, out, out_dtype, n);
}

}  // namespace descent::detail::DESCENT_THRUST_NS
