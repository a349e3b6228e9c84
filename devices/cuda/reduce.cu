// The reductions (ReduceOp): accumulators, combine functions and the final
// steps (mean's division, the norm's root, the cast to the output dtype).
#include <thrust/transform.h>

#include "devices/cuda/reduce_kernel.h"
#include "devices/cuda/thrust_backend.h"

namespace descent::detail::DESCENT_THRUST_NS {

namespace {

template <class Acc>
constexpr Dtype dtype_of_acc() {
  if constexpr (math::is_complex_v<Acc>)
    return std::is_same_v<math::real_t<Acc>, float> ? kComplex64 : kComplex128;
  else
    return dtype_of<Acc>::value;
}

// Element at `offset` converted to the accumulator type.
template <class S, class Acc>
struct Load {
  const S* data;
  DESCENT_HOST_DEVICE Acc operator()(int64_t offset, int64_t) const {
    return math::convert<Acc>(data[offset]);
  }
};

template <class Acc>
struct Plus {
  DESCENT_HOST_DEVICE Acc operator()(Acc a, Acc b) const { return a + b; }
};
template <class Acc>
struct Times {
  DESCENT_HOST_DEVICE Acc operator()(Acc a, Acc b) const { return math::mul(a, b); }
};
struct Logical {
  bool all;
  DESCENT_HOST_DEVICE bool operator()(bool a, bool b) const { return all ? a && b : a || b; }
};

// Writes the accumulators of `layout` into out_dtype at args.out, through a
// temporary buffer when the accumulator type differs from the output's;
// finish(Acc*, n) runs on the accumulators first (mean's division).
template <class Acc, class Term, class Combine, class Finish>
void reduce_to_output(const ReduceArgs& args, const ReduceLayout& layout, Term term, Combine combine,
                      Acc init, Finish finish) {
  const int64_t n = layout.outputs;
  if (dtype_of_acc<Acc>() == args.out_dtype) {
    Acc* out = static_cast<Acc*>(args.out);
    segmented_reduce(layout, term, combine, init, out);
    finish(out, n);
    return;
  }
  thrust::device_vector<Acc> buffer(static_cast<std::size_t>(n));
  Acc* acc = thrust::raw_pointer_cast(buffer.data());
  segmented_reduce(layout, term, combine, init, acc);
  finish(acc, n);
  cast(acc, dtype_of_acc<Acc>(), args.out, args.out_dtype, n);
}

struct NoFinish {
  template <class Acc>
  void operator()(Acc*, int64_t) const {}
};

// PyTorch's CPU mean: the sum (in float for 16-bit inputs) divided by the
// count as a wrapped number, i.e. the elementwise Div kernel.
struct DivideByCount {
  int64_t count;
  template <class Acc>
  void operator()(Acc* acc, int64_t n) const {
    ElementwiseArgs div;
    div.numel = n;
    div.ndim = 1;
    div.sizes[0] = n;
    div.ninputs = 2;
    div.inputs[0].data = acc;
    div.inputs[0].dtype = dtype_of_acc<Acc>();
    div.inputs[1].is_scalar = true;
    div.inputs[1].dtype = dtype_of_acc<Acc>();
    div.inputs[1].scalar = static_cast<double>(count);
    div.out = acc;
    div.out_dtype = dtype_of_acc<Acc>();
    elementwise(BinaryOp::Div, div);
  }
};

// Sum, Mean and Prod accumulate in the opmath of the (converted) input,
// int64 for bool and integers, as PyTorch does.
void sum_like(const ReduceArgs& args, const ReduceLayout& layout, const void* in, Dtype in_dtype) {
  dispatch_storage(in_dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using Acc = math::opmath_t<std::conditional_t<std::is_integral_v<S>, int64_t, S>>;
    const Load<S, Acc> load{static_cast<const S*>(in)};
    if (args.op == ReduceOp::Prod)
      reduce_to_output(args, layout, load, Times<Acc>{}, Acc(1), NoFinish{});
    else if (args.op == ReduceOp::Mean)
      reduce_to_output(args, layout, load, Plus<Acc>{}, Acc(0), DivideByCount{layout.length});
    else
      reduce_to_output(args, layout, load, Plus<Acc>{}, Acc(0), NoFinish{});
  });
}

void all_any(const ReduceArgs& args, const ReduceLayout& layout) {
  const bool all = args.op == ReduceOp::All;
  dispatch_storage(args.in_dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    reduce_to_output(args, layout, Load<S, bool>{static_cast<const S*>(args.in)}, Logical{all}, all,
                     NoFinish{});
  });
}

// ---- max / min with the index of the first extreme --------------------------

template <class T>
struct ValueIndex {
  T value;
  int64_t index;  // negative: the identity (no element seen yet)
};

template <class S>
struct LoadIndexed {
  const S* data;
  DESCENT_HOST_DEVICE ValueIndex<math::opmath_t<S>> operator()(int64_t offset, int64_t r) const {
    return {math::convert<math::opmath_t<S>>(data[offset]), r};
  }
};

// NaN wins (it propagates, as in PyTorch); ties go to the lower index, which
// makes the combine commutative, so any reduction order finds the first one.
template <class T>
struct Extreme {
  bool max;
  DESCENT_HOST_DEVICE ValueIndex<T> operator()(ValueIndex<T> a, ValueIndex<T> b) const {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    const bool a_nan = math::is_nan(a.value), b_nan = math::is_nan(b.value);
    if (a_nan != b_nan) return a_nan ? a : b;
    if (a_nan || a.value == b.value) return a.index <= b.index ? a : b;
    return (max ? b.value < a.value : a.value < b.value) ? a : b;
  }
};

template <class S>
struct SplitValueIndex {
  const ValueIndex<math::opmath_t<S>>* acc;
  S* values;
  int64_t* indices;
  DESCENT_HOST_DEVICE void operator()(int64_t o) const {
    values[o] = math::convert<S>(acc[o].value);
    if (indices != nullptr) indices[o] = acc[o].index;
  }
};

void extreme(const ReduceArgs& args, const ReduceLayout& layout) {
  if (layout.length == 0)
    raise<IndexError>(math::op_name(args.op), ": cannot reduce over an empty dimension (no identity)");
  dispatch_storage(args.in_dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    if constexpr (!math::is_complex_v<S>) {
      using VI = ValueIndex<math::opmath_t<S>>;
      thrust::device_vector<VI> buffer(static_cast<std::size_t>(layout.outputs));
      VI* acc = thrust::raw_pointer_cast(buffer.data());
      segmented_reduce(layout, LoadIndexed<S>{static_cast<const S*>(args.in)},
                       Extreme<math::opmath_t<S>>{args.op == ReduceOp::Max}, VI{{}, -1}, acc);
      thrust::for_each_n(policy(), first_index(), layout.outputs,
                         SplitValueIndex<S>{acc, static_cast<S*>(args.out), args.indices});
    }
  });
}

// ---- norms ------------------------------------------------------------------

// |x| in the input's opmath, then the term: |x|^2 (NormP2), |x| (NormInf),
// |x|^p, or whether x is nonzero for p = 0.
template <class S>
using norm_acc_t = math::real_t<math::opmath_t<S>>;

template <class S>
struct NormTerm {
  using Acc = norm_acc_t<S>;
  const S* data;
  ReduceOp op;
  Acc p;
  DESCENT_HOST_DEVICE Acc operator()(int64_t offset, int64_t) const {
    using std::abs;
    using std::pow;
    const Acc m = abs(math::convert<math::opmath_t<S>>(data[offset]));
    if (op == ReduceOp::NormP2) return m * m;
    if (op == ReduceOp::NormInf) return m;
    return p == Acc(0) ? Acc(m != Acc(0)) : pow(m, p);
  }
};

template <class Acc>
struct NormCombine {
  bool max;
  DESCENT_HOST_DEVICE Acc operator()(Acc a, Acc b) const { return max ? math::maximum(a, b) : a + b; }
};

template <class Acc>
struct NormRoot {
  bool square_root;
  Acc inv_p;
  DESCENT_HOST_DEVICE Acc operator()(Acc a) const {
    using std::pow;
    using std::sqrt;
    return square_root ? sqrt(a) : pow(a, inv_p);
  }
};

template <class Acc>
struct FinishNorm {
  ReduceOp op;
  Acc p;
  void operator()(Acc* acc, int64_t n) const {
    if (op == ReduceOp::NormInf || (op == ReduceOp::NormP && p == Acc(0))) return;
    thrust::transform(policy(), acc, acc + n, acc, NormRoot<Acc>{op == ReduceOp::NormP2, Acc(1) / p});
  }
};

void norm(const ReduceArgs& args, const ReduceLayout& layout, const void* in, Dtype in_dtype) {
  dispatch_storage(in_dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    if constexpr (!std::is_integral_v<S>) {
      using Acc = norm_acc_t<S>;
      const Acc p = math::convert<Acc>(args.p);
      reduce_to_output(args, layout, NormTerm<S>{static_cast<const S*>(in), args.op, p},
                       NormCombine<Acc>{args.op == ReduceOp::NormInf}, Acc(0), FinishNorm<Acc>{args.op, p});
    }
  });
}

// Rejects what the CPU backend rejects, with the same error types.
void check_reduce(const ReduceArgs& args) {
  const char* name = math::op_name(args.op);
  if (args.ndim < 0 || args.ndim > kMaxDims)
    raise<ValueError>(name, ": invalid number of dimensions ", args.ndim, " (must be in [0, ", kMaxDims,
                      "])");
  for (int d = 0; d < args.ndim; ++d)
    if (args.sizes[d] < 0) raise<ValueError>(name, ": invalid size ", args.sizes[d], " at dimension ", d);
  if (args.indices != nullptr && args.op != ReduceOp::Max && args.op != ReduceOp::Min)
    raise<ValueError>(name, ": only max and min return indices");
  const DtypeCategory in = category(args.in_dtype), out = category(args.out_dtype);
  bool ok = true;
  switch (args.op) {
    case ReduceOp::Max:
    case ReduceOp::Min:
      ok = in != DtypeCategory::Complex && args.out_dtype == args.in_dtype;
      break;
    case ReduceOp::All:
    case ReduceOp::Any:
      ok = args.out_dtype == kBool;
      break;
    case ReduceOp::Mean:
      ok = out == DtypeCategory::Floating || out == DtypeCategory::Complex;
      break;
    case ReduceOp::NormP2:
    case ReduceOp::NormP:
    case ReduceOp::NormInf:
      ok = (in == DtypeCategory::Floating || in == DtypeCategory::Complex) &&
           out == DtypeCategory::Floating &&
           (in != DtypeCategory::Complex || args.out_dtype == kFloat32 || args.out_dtype == kFloat64);
      break;
    case ReduceOp::Sum:
    case ReduceOp::Prod:
      break;
  }
  if (!ok)
    raise<NotImplementedError>(name, ": not implemented for input ", to_string(args.in_dtype), " and output ",
                               to_string(args.out_dtype), " on ", kSystemName);
}

// The dtype the kernels read, as on the CPU: the input is converted to it
// first, as PyTorch converts a reduction's input to the requested dtype.
// Integer sums read bool and int64 directly (the conversion is exact).
Dtype kernel_dtype(const ReduceArgs& args) {
  switch (args.op) {
    case ReduceOp::Max:
    case ReduceOp::Min:
    case ReduceOp::All:
    case ReduceOp::Any:
      return args.in_dtype;
    case ReduceOp::NormP2:
    case ReduceOp::NormP:
    case ReduceOp::NormInf:
      return is_complex(args.in_dtype) ? to_complex_dtype(args.out_dtype) : args.out_dtype;
    case ReduceOp::Sum:
    case ReduceOp::Prod:
      if (args.out_dtype == kInt64 && is_integral(args.in_dtype, true)) return args.in_dtype;
      return args.out_dtype;
    case ReduceOp::Mean:
      break;
  }
  return args.out_dtype;
}

}  // namespace

void reduce(const ReduceArgs& args) {
  check_reduce(args);
  const ReduceLayout layout = make_reduce_layout(args);
  if (layout.outputs == 0) return;
  const void* in = args.in;
  const Dtype dtype = kernel_dtype(args);
  const int64_t numel = layout.outputs * layout.length;
  const bool convert = dtype != args.in_dtype && numel > 0;
  // Sized at construction: resize() of an empty host-system vector memmoves from null.
  thrust::device_vector<uint8_t> converted(convert ? static_cast<std::size_t>(numel) * element_size(dtype) : 0);
  if (convert) {
    cast(args.in, args.in_dtype, thrust::raw_pointer_cast(converted.data()), dtype, numel);
    in = thrust::raw_pointer_cast(converted.data());
  }
  switch (args.op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean:
    case ReduceOp::Prod:
      return sum_like(args, layout, in, dtype);
    case ReduceOp::Max:
    case ReduceOp::Min:
      return extreme(args, layout);
    case ReduceOp::NormP2:
    case ReduceOp::NormInf:
    case ReduceOp::NormP:
      return norm(args, layout, in, dtype);
    case ReduceOp::All:
    case ReduceOp::Any:
      return all_any(args, layout);
  }
  raise<NotImplementedError>("reduce: unknown op ", static_cast<int>(args.op), " on ", kSystemName);
}

}  // namespace descent::detail::DESCENT_THRUST_NS
