// The binary and ternary elementwise ops (BinaryOp) and the strided Copy.
#include <thrust/device_vector.h>
#include <thrust/logical.h>

#include <list>
#include <optional>

#include "devices/cuda/elementwise_kernel.h"
#include "devices/cuda/thrust_backend.h"

namespace descent::detail::DESCENT_THRUST_NS {

namespace {

template <BinaryOp Op>
using BinaryConstant = std::integral_constant<BinaryOp, Op>;

// Calls fn(BinaryConstant<op>{}) so each op is a compile-time parameter.
template <class Fn>
void dispatch_binary(BinaryOp op, Fn&& fn) {
  using B = BinaryOp;
  switch (op) {
    case B::Copy:
      return fn(BinaryConstant<B::Copy>{});
    case B::Add:
      return fn(BinaryConstant<B::Add>{});
    case B::Sub:
      return fn(BinaryConstant<B::Sub>{});
    case B::Mul:
      return fn(BinaryConstant<B::Mul>{});
    case B::Div:
      return fn(BinaryConstant<B::Div>{});
    case B::Pow:
      return fn(BinaryConstant<B::Pow>{});
    case B::Maximum:
      return fn(BinaryConstant<B::Maximum>{});
    case B::Minimum:
      return fn(BinaryConstant<B::Minimum>{});
    case B::Atan2:
      return fn(BinaryConstant<B::Atan2>{});
    case B::Remainder:
      return fn(BinaryConstant<B::Remainder>{});
    case B::Eq:
      return fn(BinaryConstant<B::Eq>{});
    case B::Ne:
      return fn(BinaryConstant<B::Ne>{});
    case B::Lt:
      return fn(BinaryConstant<B::Lt>{});
    case B::Le:
      return fn(BinaryConstant<B::Le>{});
    case B::Gt:
      return fn(BinaryConstant<B::Gt>{});
    case B::Ge:
      return fn(BinaryConstant<B::Ge>{});
    case B::LogicalAnd:
      return fn(BinaryConstant<B::LogicalAnd>{});
    case B::LogicalOr:
      return fn(BinaryConstant<B::LogicalOr>{});
    case B::LogicalXor:
      return fn(BinaryConstant<B::LogicalXor>{});
    case B::Lerp:
      return fn(BinaryConstant<B::Lerp>{});
    case B::Addcmul:
      return fn(BinaryConstant<B::Addcmul>{});
    case B::Addcdiv:
      return fn(BinaryConstant<B::Addcdiv>{});
    case B::Where:
      return fn(BinaryConstant<B::Where>{});
    case B::Clamp:
      return fn(BinaryConstant<B::Clamp>{});
    case B::ThresholdBackward:
      return fn(BinaryConstant<B::ThresholdBackward>{});
  }
  raise<NotImplementedError>(math::op_name(op), ": unknown op ", static_cast<int>(op), " on ", kSystemName);
}

// Unsigned words of each element size: Copy moves elements bit for bit.
template <std::size_t Bytes>
struct Word {
  using type = uint64_t;
};
template <>
struct Word<1> {
  using type = uint8_t;
};
template <>
struct Word<2> {
  using type = uint16_t;
};
template <>
struct Word<4> {
  using type = uint32_t;
};
template <>
struct Word<16> {
  struct type {
    uint64_t lo, hi;
  };
};

template <class W>
struct GatherKernel {
  Layout layout;
  const W* in;
  W* out;

  DESCENT_HOST_DEVICE void operator()(int64_t i) const {
    int64_t off[1] = {i};
    if (layout.strided) layout.offsets(i, off);
    out[i] = in[off[0]];
  }
};

template <std::size_t Bytes>
void gather(const ElementwiseArgs& args, void* out) {
  using W = typename Word<Bytes>::type;
  GatherKernel<W> kernel{make_layout(args), static_cast<const W*>(args.inputs[0].data), static_cast<W*>(out)};
  thrust::for_each_n(policy(), first_index(), args.numel, kernel);
}

void gather_by_size(const ElementwiseArgs& args, void* out) {
  switch (element_size(args.inputs[0].dtype)) {
    case 1:
      return gather<1>(args, out);
    case 2:
      return gather<2>(args, out);
    case 4:
      return gather<4>(args, out);
    case 8:
      return gather<8>(args, out);
    default:
      return gather<16>(args, out);
  }
}

template <class W>
struct ScatterKernel {
  Layout layout;
  const W* in;
  W* out;

  DESCENT_HOST_DEVICE void operator()(int64_t i) const {
    int64_t off[1] = {i};
    layout.offsets(i, off);
    out[off[0]] = in[i];
  }
};

// Writes a contiguous result into the output's strides.
template <std::size_t Bytes>
void scatter(const ElementwiseArgs& args, const void* in) {
  using W = typename Word<Bytes>::type;
  ElementwiseArgs walk = args;
  walk.ninputs = 1;
  walk.inputs[0] = Operand{};
  walk.inputs[0].strides = args.out_strides;
  walk.inputs[0].contiguous = false;
  ScatterKernel<W> kernel{make_layout(walk), static_cast<const W*>(in), static_cast<W*>(args.out)};
  thrust::for_each_n(policy(), first_index(), args.numel, kernel);
}

void scatter_by_size(const ElementwiseArgs& args, const void* in) {
  switch (element_size(args.out_dtype)) {
    case 1:
      return scatter<1>(args, in);
    case 2:
      return scatter<2>(args, in);
    case 4:
      return scatter<4>(args, in);
    case 8:
      return scatter<8>(args, in);
    default:
      return scatter<16>(args, in);
  }
}

// Copy reads through strides and converts dtypes by way of cast().
void copy(const ElementwiseArgs& args) {
  const Operand& src = args.inputs[0];
  if (src.is_scalar) {
    fill(args.out, args.out_dtype, args.numel, src.scalar);
  } else if (src.dtype == args.out_dtype) {
    gather_by_size(args, args.out);
  } else if (!make_layout(args).strided) {
    cast(src.data, src.dtype, args.out, args.out_dtype, args.numel);
  } else {
    thrust::device_vector<uint8_t> staging(static_cast<std::size_t>(args.numel) * element_size(src.dtype));
    void* buffer = thrust::raw_pointer_cast(staging.data());
    gather_by_size(args, buffer);
    cast(buffer, src.dtype, args.out, args.out_dtype, args.numel);
  }
}

template <class S>
struct IsZeroAt {
  Layout layout;
  const S* data;
  DESCENT_HOST_DEVICE bool operator()(int64_t i) const {
    int64_t off[2] = {i, i};
    if (layout.strided) layout.offsets(i, off);
    return data[off[1]] == S(0);
  }
};

// Integer remainder by zero has no value; PyTorch raises ZeroDivisionError.
template <class S>
void check_divisor(const ElementwiseArgs& args) {
  const Operand& b = args.inputs[1];
  bool zero = b.is_scalar ? b.scalar == std::complex<double>(0.0, 0.0)
                          : thrust::any_of(policy(), first_index(), first_index() + args.numel,
                                           IsZeroAt<S>{make_layout(args), static_cast<const S*>(b.data)});
  if (zero) raise<RuntimeError>("remainder: ZeroDivisionError (integer division by zero)");
}

template <BinaryOp Op, class S>
void launch(const ElementwiseArgs& args, Dtype compute) {
  using T = math::opmath_t<S>;
  using C0 = std::conditional_t<Op == BinaryOp::Where, bool, S>;
  using O = std::conditional_t<math::binary_writes_bool(Op), bool, S>;
  if constexpr (Op == BinaryOp::Remainder && std::is_integral_v<T>) check_divisor<S>(args);
  const auto fn = math::make_binary<Op, T>(args, compute);
  switch (args.ninputs) {
    case 1:
      if constexpr (math::arity_ok(Op, 1)) return launch_elementwise<T, S, C0, O, 1>(fn, args);
      break;
    case 2:
      if constexpr (math::arity_ok(Op, 2)) return launch_elementwise<T, S, C0, O, 2>(fn, args);
      break;
    default:
      if constexpr (math::arity_ok(Op, 3)) return launch_elementwise<T, S, C0, O, 3>(fn, args);
      break;
  }
}

// The dtype an op computes in, as on the CPU: its output's, except for
// comparisons and logical ops, which compute in their inputs' promoted dtype.
Dtype compute_dtype(BinaryOp op, const ElementwiseArgs& args) {
  if (!math::binary_writes_bool(op)) return args.out_dtype;
  std::optional<Dtype> dtype;
  bool complex_scalar = false;
  for (int k = 0; k < args.ninputs; ++k) {
    const Operand& in = args.inputs[k];
    if (in.is_scalar)
      complex_scalar = complex_scalar || in.scalar.imag() != 0.0;
    else
      dtype = dtype ? promote_types(*dtype, in.dtype) : in.dtype;
  }
  if (dtype) return *dtype;
  return complex_scalar ? kComplex128 : kFloat64;
}

void check_launch(const char* name, const ElementwiseArgs& args) {
  if (args.ndim < 0 || args.ndim > kMaxDims)
    raise<ValueError>(name, ": invalid number of dimensions ", args.ndim, " (must be in [0, ", kMaxDims,
                      "])");
  int64_t numel = 1;
  for (int d = 0; d < args.ndim; ++d) {
    if (args.sizes[d] < 0) raise<ValueError>(name, ": invalid size ", args.sizes[d], " at dimension ", d);
    numel *= args.sizes[d];
  }
  if (numel != args.numel)
    raise<ValueError>(name, ": numel ", args.numel, " does not match the product of the sizes (", numel, ")");
}

// The kernels read every input in one storage type (bool for Where's
// condition) and write the op's natural result type. A launch whose dtypes
// differ is staged: mismatched inputs are converted into scratch buffers and
// the result is cast into place afterwards. 16-bit floats are then staged as
// float32, their opmath type, so every input converts exactly once, as on the
// CPU.
class Staging {
 public:
  Staging(BinaryOp op, const ElementwiseArgs& args, Dtype compute) : args_(args), kernel_dtype_(compute) {
    const bool writes_bool = math::binary_writes_bool(op);
    bool inputs_match = true;
    for (int k = 0; k < args.ninputs; ++k)
      inputs_match = inputs_match && (args.inputs[k].is_scalar || args.inputs[k].dtype == input_dtype(op, k));
    if (inputs_match && args.out_dtype == (writes_bool ? kBool : compute)) return;
    if (compute == kFloat16 || compute == kBFloat16) kernel_dtype_ = kFloat32;
    for (int k = 0; k < args.ninputs; ++k) {
      Operand& in = args_.inputs[k];
      const Dtype want = input_dtype(op, k);
      if (in.is_scalar || in.dtype == want) continue;
      ElementwiseArgs convert = args;
      convert.ninputs = 1;
      convert.inputs[0] = in;
      convert.out = scratch(want);
      convert.out_dtype = want;
      copy(convert);
      in.data = convert.out;
      in.dtype = want;
      in.contiguous = true;
    }
    const Dtype natural = writes_bool ? kBool : kernel_dtype_;
    if (args.out_dtype != natural) {
      args_.out = scratch(natural);
      args_.out_dtype = natural;
    }
  }

  const ElementwiseArgs& args() const { return args_; }
  Dtype kernel_dtype() const { return kernel_dtype_; }

  // Casts a staged result into the caller's output.
  void finish(const ElementwiseArgs& original) {
    if (args_.out != original.out)
      cast(args_.out, args_.out_dtype, original.out, original.out_dtype, args_.numel);
  }

 private:
  Dtype input_dtype(BinaryOp op, int k) const {
    return op == BinaryOp::Where && k == 0 ? kBool : kernel_dtype_;
  }
  void* scratch(Dtype dtype) {
    buffers_.emplace_back(static_cast<std::size_t>(args_.numel) * element_size(dtype));
    return thrust::raw_pointer_cast(buffers_.back().data());
  }

  ElementwiseArgs args_;
  Dtype kernel_dtype_;
  std::list<thrust::device_vector<uint8_t>> buffers_;
};

}  // namespace

void elementwise(BinaryOp op, const ElementwiseArgs& args) {
  const char* name = math::op_name(op);
  check_launch(name, args);
  if (!math::arity_ok(op, args.ninputs))
    raise<ValueError>(name, ": invalid number of inputs ", args.ninputs, " for this op");
  if (args.numel == 0) return;
  if (!args.out_contiguous) {
    thrust::device_vector<uint8_t> result(static_cast<std::size_t>(args.numel) * element_size(args.out_dtype));
    ElementwiseArgs dense = args;
    dense.out = thrust::raw_pointer_cast(result.data());
    dense.out_contiguous = true;
    elementwise(op, dense);
    return scatter_by_size(args, dense.out);
  }
  if (op == BinaryOp::Copy) return copy(args);
  const Dtype compute = compute_dtype(op, args);
  if (!math::binary_supported(op, category(compute)))
    raise<NotImplementedError>(name, ": not implemented for ", to_string(compute), " on ", kSystemName);
  Staging staging(op, args, compute);
  dispatch_storage(staging.kernel_dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    dispatch_binary(op, [&](auto constant) {
      constexpr BinaryOp Op = decltype(constant)::value;
      if constexpr (Op != BinaryOp::Copy &&
                    math::binary_supported(Op, math::category_of<math::opmath_t<S>>()))
        launch<Op, S>(staging.args(), compute);
    });
  });
  staging.finish(args);
}

}  // namespace descent::detail::DESCENT_THRUST_NS
