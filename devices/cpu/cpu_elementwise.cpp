// Unary, binary and ternary elementwise kernels of the CPU backend. The math
// of each op lives in devices/elementwise_math.h (shared with CUDA); this
// file only decides how to walk memory: a tight loop over contiguous
// operands of the computation's dtype (vectorised by the compiler), else a
// strided walk that converts each run of elements into an opmath buffer.
//
// Compiled once per instruction set, like the fused optimizer loop
// (devices/meson.build, devices/cpu/cpu_isa.h): add with alpha, addcmul and
// lerp round as one fused multiply-add each (PyTorch's), which the baseline
// x86-64 has no instruction for, so there every element calls libm's fma;
// AVX2 and AVX-512 run it as a vector instruction. Every op is an IEEE
// operation rounded on its own (-ffp-contract=off, explicit fma, no
// vectorised libm), so every variant gives the same bits.
#ifndef DESCENT_CPU_ISA
#error "DESCENT_CPU_ISA names the instruction set this variant is compiled for (devices/meson.build)"
#endif

#include <algorithm>
#include <atomic>
#include <optional>

#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices/cpu/cpu_backend.h"
#include "devices/cpu/cpu_isa.h"
#include "devices/cpu/cpu_loops.h"
#include "devices/elementwise_math.h"

namespace descent::cpu_fused::DESCENT_CPU_ISA {

namespace {

// Elements per run of the strided walk: the opmath buffers stay in L1.
constexpr int64_t kBlock = 256;
constexpr int kNumUnaryOps = static_cast<int>(UnaryOp::Angle) + 1;
constexpr int kNumBinaryOps = static_cast<int>(BinaryOp::ThresholdBackward) + 1;

struct Input {
  const char* data = nullptr;
  Dtype dtype = kFloat32;
  std::array<int64_t, kMaxDims> strides{};
  bool scalar = false;
  std::complex<double> value{};
};

// An iteration space with size-1 dimensions dropped and dimensions that are
// contiguous in every operand merged: a fully contiguous launch has ndim 1.
struct Loop {
  int ndim = 1;
  std::array<int64_t, kMaxDims> sizes{};
  int nin = 0;
  std::array<Input, 3> in{};
  char* out = nullptr;
  Dtype out_dtype = kFloat32;
  std::array<int64_t, kMaxDims> out_strides{};
  bool out_strided = false;
  int64_t numel = 0;
  // For the values of wrapped scalars, which depend on both.
  BinaryOp op = BinaryOp::Copy;
  Dtype compute = kFloat32;

  template <class OT>
  OT scalar(int j) const {
    return math::scalar_operand<OT>(in[j].value, compute, op, j);
  }

  bool contiguous(int j) const { return in[j].scalar || (ndim == 1 && (in[j].strides[0] == 1 || numel == 1)); }
};

Loop make_loop(BinaryOp op, Dtype compute, const ElementwiseArgs& args) {
  Loop loop;
  loop.op = op;
  loop.compute = compute;
  loop.nin = args.ninputs;
  loop.out = static_cast<char*>(args.out);
  loop.out_dtype = args.out_dtype;
  loop.out_strided = !args.out_contiguous;
  loop.numel = args.numel;
  for (int j = 0; j < args.ninputs; ++j) {
    const Operand& operand = args.inputs[j];
    loop.in[j] = {static_cast<const char*>(operand.data), operand.dtype, {}, operand.is_scalar, operand.scalar};
  }
  int nd = 0;
  for (int d = 0; d < args.ndim; ++d) {
    const int64_t size = args.sizes[d];
    if (size == 1) continue;
    bool merge = nd > 0;
    for (int j = 0; j < args.ninputs && merge; ++j) {
      if (!args.inputs[j].is_scalar) merge = loop.in[j].strides[nd - 1] == args.inputs[j].strides[d] * size;
    }
    if (merge && loop.out_strided) merge = loop.out_strides[nd - 1] == args.out_strides[d] * size;
    if (merge) {
      loop.sizes[nd - 1] *= size;
    } else {
      loop.sizes[nd++] = size;
    }
    for (int j = 0; j < args.ninputs; ++j) loop.in[j].strides[nd - 1] = args.inputs[j].strides[d];
    if (loop.out_strided) loop.out_strides[nd - 1] = args.out_strides[d];
  }
  if (nd == 0) loop.sizes[nd++] = 1;
  loop.ndim = nd;
  // A strided output that merged into one unit-stride run is contiguous after all.
  if (loop.out_strided && nd == 1 && (loop.out_strides[0] == 1 || loop.numel == 1)) loop.out_strided = false;
  return loop;
}

template <class OT>
void load_run(const Input& in, int64_t offset, int64_t stride, int64_t n, OT* buf) {
  dispatch_dtype(in.dtype, [&](auto tag) {
    using S = decltype(tag);
    const S* p = reinterpret_cast<const S*>(in.data) + offset;
    if (stride == 1) {
      for (int64_t i = 0; i < n; ++i) buf[i] = math::convert<OT>(p[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) buf[i] = math::convert<OT>(p[i * stride]);
    }
  });
}

template <class R>
void store_run(Dtype dtype, char* out, int64_t offset, int64_t stride, const R* buf, int64_t n) {
  dispatch_dtype(dtype, [&](auto tag) {
    using S = decltype(tag);
    S* p = reinterpret_cast<S*>(out) + offset;
    if (stride == 1) {
      for (int64_t i = 0; i < n; ++i) p[i] = math::convert<S>(buf[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) p[i * stride] = math::convert<S>(buf[i]);
    }
  });
}

template <int N, class OT, class Fn>
struct result;
template <class OT, class Fn>
struct result<1, OT, Fn> : std::invoke_result<const Fn&, OT> {};
template <class OT, class Fn>
struct result<2, OT, Fn> : std::invoke_result<const Fn&, OT, OT> {};
template <class OT, class Fn>
struct result<3, OT, Fn> : std::invoke_result<const Fn&, OT, OT, OT> {};
template <int N, class OT, class Fn>
using result_t = typename result<N, OT, Fn>::type;

template <int N, class OT, class Fn>
void run_strided(const Loop& loop, const Fn& fn, int64_t begin, int64_t end) {
  using R = result_t<N, OT, Fn>;
  OT buf[N][kBlock];
  R res[kBlock];
  for (int j = 0; j < N; ++j) {
    if (loop.in[j].scalar) std::fill(buf[j], buf[j] + kBlock, loop.template scalar<OT>(j));
  }
  const int last = loop.ndim - 1;
  std::array<int64_t, kMaxDims> idx{};
  for (int64_t rest = begin, d = last; d >= 0; --d) {
    idx[d] = rest % loop.sizes[d];
    rest /= loop.sizes[d];
  }
  for (int64_t pos = begin; pos < end;) {
    const int64_t run = std::min({loop.sizes[last] - idx[last], end - pos, kBlock});
    for (int j = 0; j < N; ++j) {
      const Input& in = loop.in[j];
      if (in.scalar) continue;
      int64_t offset = 0;
      for (int d = 0; d <= last; ++d) offset += idx[d] * in.strides[d];
      load_run(in, offset, in.strides[last], run, buf[j]);
    }
    for (int64_t i = 0; i < run; ++i) {
      if constexpr (N == 1) res[i] = fn(buf[0][i]);
      else if constexpr (N == 2) res[i] = fn(buf[0][i], buf[1][i]);
      else res[i] = fn(buf[0][i], buf[1][i], buf[2][i]);
    }
    if (loop.out_strided) {
      int64_t offset = 0;
      for (int d = 0; d <= last; ++d) offset += idx[d] * loop.out_strides[d];
      store_run(loop.out_dtype, loop.out, offset, loop.out_strides[last], res, run);
    } else {
      store_run(loop.out_dtype, loop.out, pos, 1, res, run);
    }
    pos += run;
    idx[last] += run;
    for (int d = last; d > 0 && idx[d] == loop.sizes[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// Reads a contiguous operand, or a wrapped scalar, in opmath.
template <class S, class OT>
struct Contiguous {
  const S* p;
  OT operator()(int64_t i) const { return math::convert<OT>(p[i]); }
};
template <class OT>
struct Constant {
  OT v;
  OT operator()(int64_t) const { return v; }
};

template <class Out, class Fn, class... Loads>
void run_contiguous(const Loop& loop, const Fn& fn, Loads... loads) {
  Out* out = reinterpret_cast<Out*>(loop.out);
  parallel_for(0, loop.numel, kGrainSize, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = math::convert<Out>(fn(loads(i)...));
  });
}

// Returns false, running nothing, unless every tensor operand is contiguous
// and of the computation's dtype and the output has the op's natural dtype.
template <int N, class T, class S0, class Fn>
bool try_contiguous(const Loop& loop, const Fn& fn) {
  using OT = math::opmath_t<T>;
  using R = result_t<N, OT, Fn>;
  using Out = std::conditional_t<std::is_same_v<R, OT>, T, R>;
  if (loop.out_dtype != dtype_of<Out>::value || loop.out_strided) return false;
  for (int j = 0; j < N; ++j) {
    const Dtype want = j == 0 ? dtype_of<S0>::value : dtype_of<T>::value;
    if (!loop.contiguous(j) || !(loop.in[j].scalar || loop.in[j].dtype == want)) return false;
  }
  const auto tensor = [&](auto tag, int j) {
    using S = decltype(tag);
    return Contiguous<S, OT>{reinterpret_cast<const S*>(loop.in[j].data)};
  };
  const bool s0 = loop.in[0].scalar, s1 = N > 1 && loop.in[1].scalar, s2 = N > 2 && loop.in[2].scalar;
  if constexpr (N == 1) {
    if (s0) return false;
    run_contiguous<Out>(loop, fn, tensor(S0{}, 0));
  } else if constexpr (N == 2) {
    if (!s0 && !s1) run_contiguous<Out>(loop, fn, tensor(S0{}, 0), tensor(T{}, 1));
    else if (!s0) run_contiguous<Out>(loop, fn, tensor(S0{}, 0), Constant<OT>{loop.template scalar<OT>(1)});
    else if (!s1) run_contiguous<Out>(loop, fn, Constant<OT>{loop.template scalar<OT>(0)}, tensor(T{}, 1));
    else return false;
  } else {
    // One wrapped scalar among the last two: where(mask, value, self), as
    // masked_fill_ forms it, or where(mask, self, value).
    if (s0 || (s1 && s2)) return false;
    if (s1)
      run_contiguous<Out>(loop, fn, tensor(S0{}, 0), Constant<OT>{loop.template scalar<OT>(1)}, tensor(T{}, 2));
    else if (s2)
      run_contiguous<Out>(loop, fn, tensor(S0{}, 0), tensor(T{}, 1), Constant<OT>{loop.template scalar<OT>(2)});
    else
      run_contiguous<Out>(loop, fn, tensor(S0{}, 0), tensor(T{}, 1), tensor(T{}, 2));
  }
  return true;
}

// T: the computation's storage type; S0: input 0's (bool for Where's condition).
template <int N, class T, class S0, class Fn>
void launch(const Loop& loop, const Fn& fn) {
  using OT = math::opmath_t<T>;
  // Complex and bool computations always take the strided path: they are
  // rare in training, and each contiguous variant costs compile time per op.
  if constexpr (!math::is_complex_v<OT> && !std::is_same_v<OT, bool>) {
    if (try_contiguous<N, T, S0>(loop, fn)) return;
  }
  parallel_for(0, loop.numel, kGrainSize,
               [&](int64_t begin, int64_t end) { run_strided<N, OT>(loop, fn, begin, end); });
}

template <BinaryOp Op, class T>
void elementwise_typed(const Loop& loop, const ElementwiseArgs& args, Dtype compute) {
  using OT = math::opmath_t<T>;
  using S0 = std::conditional_t<Op == BinaryOp::Where, bool, T>;
  const auto fn = math::make_binary<Op, OT>(args, compute);
  if constexpr (Op == BinaryOp::Remainder && std::is_integral_v<OT>) {
    // PyTorch raises on an integer division by zero; the shared math returns 0 for it.
    std::atomic<bool> divided_by_zero{false};
    launch<2, T, S0>(loop, [&](OT a, OT b) {
      if (b == 0) divided_by_zero.store(true, std::memory_order_relaxed);
      return fn(a, b);
    });
    if (divided_by_zero) raise<RuntimeError>("remainder: ZeroDivisionError (integer division by zero)");
    return;
  }
  if constexpr (math::arity_ok(Op, 1)) {
    if (loop.nin == 1) return launch<1, T, S0>(loop, fn);
  }
  if constexpr (math::arity_ok(Op, 2)) {
    if (loop.nin == 2) return launch<2, T, S0>(loop, fn);
  }
  if constexpr (math::arity_ok(Op, 3)) {
    if (loop.nin == 3) return launch<3, T, S0>(loop, fn);
  }
}

template <std::size_t Bytes>
struct Word;
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
struct Word<8> {
  using type = uint64_t;
};
template <>
struct Word<16> {
  struct type {
    uint64_t lo, hi;
  };
};

// A same-dtype copy whose input is read across its rows (a transposed
// matrix made contiguous): square tiles keep both sides in cache, where the
// element-order walk misses the cache on every read.
template <std::size_t Bytes>
void copy_tiled(const Loop& loop) {
  using W = typename Word<Bytes>::type;
  constexpr int64_t kTile = 32;
  const int64_t rows = loop.sizes[0], cols = loop.sizes[1];
  const int64_t s0 = loop.in[0].strides[0], s1 = loop.in[0].strides[1];
  const W* in = reinterpret_cast<const W*>(loop.in[0].data);
  W* out = reinterpret_cast<W*>(loop.out);
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  parallel_for(0, row_tiles, std::max<int64_t>(1, kGrainSize / (kTile * cols)), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r0 = t * kTile, r1 = std::min(rows, r0 + kTile);
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) out[r * cols + c] = in[r * s0 + c * s1];
      }
    }
  });
}

bool try_copy_tiled(BinaryOp op, const Loop& loop) {
  if (op != BinaryOp::Copy || loop.nin != 1 || loop.in[0].scalar || loop.in[0].dtype != loop.out_dtype ||
      loop.out_strided || loop.ndim != 2 || loop.in[0].strides[1] == 1 || loop.sizes[0] < 2)
    return false;
  switch (element_size(loop.out_dtype)) {
    case 1:
      copy_tiled<1>(loop);
      return true;
    case 2:
      copy_tiled<2>(loop);
      return true;
    case 4:
      copy_tiled<4>(loop);
      return true;
    case 8:
      copy_tiled<8>(loop);
      return true;
    case 16:
      copy_tiled<16>(loop);
      return true;
    default:
      return false;
  }
}

// The dtype an op computes in: its output's, except for comparisons and
// logical ops, which compute in their (promoted) inputs' dtype.
Dtype compute_dtype(BinaryOp op, const ElementwiseArgs& args) {
  if (!math::binary_writes_bool(op)) return args.out_dtype;
  std::optional<Dtype> dtype;
  bool complex_scalar = false;
  for (int j = 0; j < args.ninputs; ++j) {
    const Operand& in = args.inputs[j];
    if (in.is_scalar) complex_scalar = complex_scalar || in.scalar.imag() != 0.0;
    else dtype = dtype ? promote_types(*dtype, in.dtype) : in.dtype;
  }
  if (dtype) return *dtype;
  return complex_scalar ? kComplex128 : kFloat64;
}

void check_launch(const char* what, const ElementwiseArgs& args) {
  if (args.ndim < 0 || args.ndim > kMaxDims)
    raise<ValueError>(what, ": invalid number of dimensions ", args.ndim, " (must be in [0, ", kMaxDims, "])");
  int64_t numel = 1;
  for (int d = 0; d < args.ndim; ++d) {
    if (args.sizes[d] < 0) raise<ValueError>(what, ": invalid size ", args.sizes[d], " at dimension ", d);
    numel *= args.sizes[d];
  }
  if (numel != args.numel)
    raise<ValueError>(what, ": numel ", args.numel, " does not match the product of the sizes (", numel, ")");
}

}  // namespace

void elementwise(BinaryOp op, const ElementwiseArgs& args) {
  const char* name = math::op_name(op);
  check_launch(name, args);
  if (!math::arity_ok(op, args.ninputs))
    raise<ValueError>(name, ": invalid number of inputs ", args.ninputs, " for this op");
  if (args.numel == 0) return;
  const Dtype compute = compute_dtype(op, args);
  if (!math::binary_supported(op, category(compute)))
    raise<NotImplementedError>(name, ": not implemented for ", to_string(compute), " on the CPU");
  const Loop loop = make_loop(op, compute, args);
  if (try_copy_tiled(op, loop)) return;
  detail::visit_enum<BinaryOp, kNumBinaryOps>(op, [&](auto op_constant) {
    constexpr BinaryOp Op = decltype(op_constant)::value;
    dispatch_dtype(compute, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (math::binary_supported(Op, math::category_of<math::opmath_t<T>>()))
        elementwise_typed<Op, T>(loop, args, compute);
    });
  });
}

void unary(UnaryOp op, Dtype dtype, const void* in, void* out, Dtype out_dtype, int64_t n) {
  const char* name = math::op_name(op);
  if (n < 0) raise<ValueError>(name, ": invalid number of elements ", n);
  if (!math::unary_supported(op, category(dtype)))
    raise<NotImplementedError>(name, ": not implemented for ", to_string(dtype), " on the CPU");
  if (n == 0) return;
  Loop loop;
  loop.sizes[0] = n;
  loop.numel = n;
  loop.nin = 1;
  loop.in[0] = {static_cast<const char*>(in), dtype, {1}, false, {}};
  loop.out = static_cast<char*>(out);
  loop.out_dtype = out_dtype;
  detail::visit_enum<UnaryOp, kNumUnaryOps>(op, [&](auto op_constant) {
    constexpr UnaryOp Op = decltype(op_constant)::value;
    dispatch_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (math::unary_supported(Op, math::category_of<math::opmath_t<T>>()))
        launch<1, T, T>(loop, math::UnaryFn<Op, math::opmath_t<T>>{});
    });
  });
}

}  // namespace descent::cpu_fused::DESCENT_CPU_ISA
