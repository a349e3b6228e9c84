// Reductions of the CPU backend. Sums use pairwise summation over fixed
// blocks (error grows with log n, not n), laid out independently of the
// thread count, so results do not change with DESCENT_NUM_THREADS.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <vector>

#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices/cpu/cpu_backend.h"
#include "devices/cpu/cpu_loops.h"
#include "devices/elementwise_math.h"

namespace descent {

namespace {

constexpr int kNumReduceOps = static_cast<int>(ReduceOp::Prod) + 1;
// Elements reduced sequentially (in 8 interleaved accumulators, so 16 each)
// before the pairwise tree takes over: float32 sums keep ~1e-7 relative error.
constexpr int64_t kBlock = 128;
// A single huge contiguous reduction is split into pieces of 2^9 blocks, so
// that the pieces are whole subtrees of the serial pairwise tree.
constexpr int kPieceLevel = 9;
constexpr int64_t kPiece = kBlock << kPieceLevel;
// Outputs reduced together when the innermost dimension is kept.
constexpr int64_t kLanes = 32;
// Rows (reduced positions) summed sequentially per lane before the pairwise tree.
constexpr int64_t kRowBlock = 16;
constexpr int kMaxLevels = 64;

// The input shape with size-1 dimensions dropped and neighbouring dimensions
// of the same kind (reduced or kept) merged; input strides are contiguous.
struct Layout {
  int nk = 0, nr = 0;
  std::array<int64_t, kMaxDims> ksize{}, kstride{}, rsize{}, rstride{};
  int64_t out_count = 1, red_count = 1;
  bool inner_reduced = false;
};

Layout make_layout(const ReduceArgs& args) {
  std::array<int64_t, kMaxDims> size{}, stride{};
  std::array<bool, kMaxDims> red{};
  int nd = 0;
  int64_t s = 1;
  for (int d = args.ndim - 1; d >= 0; --d) {  // innermost first, so strides are known
    const int64_t n = args.sizes[d];
    if (n != 1) {
      if (nd > 0 && red[nd - 1] == args.reduce[d]) {
        size[nd - 1] *= n;
      } else {
        size[nd] = n;
        stride[nd] = s;
        red[nd++] = args.reduce[d];
      }
    }
    s *= n;
  }
  Layout lay;
  for (int d = nd - 1; d >= 0; --d) {  // back to outermost first
    if (red[d]) {
      lay.rsize[lay.nr] = size[d];
      lay.rstride[lay.nr++] = stride[d];
      lay.red_count *= size[d];
    } else {
      lay.ksize[lay.nk] = size[d];
      lay.kstride[lay.nk++] = stride[d];
      lay.out_count *= size[d];
    }
  }
  lay.inner_reduced = nd == 0 || red[0];
  if (nd == 0) {  // a single element: reduce it over a dimension of size 1
    lay.rsize[0] = lay.rstride[0] = 1;
    lay.nr = 1;
  }
  return lay;
}

int64_t offset_of(int64_t flat, const std::array<int64_t, kMaxDims>& size,
                  const std::array<int64_t, kMaxDims>& stride, int n) {
  int64_t offset = 0;
  for (int d = n - 1; d >= 0; --d) {
    offset += (flat % size[d]) * stride[d];
    flat /= size[d];
  }
  return offset;
}

// Reductions that map each element to an accumulator and combine them associatively.
template <ReduceOp Op, class In, class A>
struct Reducer {
  using OTin = math::opmath_t<In>;
  A p{};  // NormP exponent

  static A identity() {
    if constexpr (Op == ReduceOp::Prod || Op == ReduceOp::All) return A(1);
    else return A(0);
  }
  A map(In x) const {
    using std::abs;
    using std::pow;
    if constexpr (Op == ReduceOp::All || Op == ReduceOp::Any) {
      return math::nonzero(x);
    } else if constexpr (Op == ReduceOp::NormP2 || Op == ReduceOp::NormP || Op == ReduceOp::NormInf) {
      const A m = math::convert<A>(abs(math::convert<OTin>(x)));
      if constexpr (Op == ReduceOp::NormP2) return m * m;
      else if constexpr (Op == ReduceOp::NormInf) return m;
      else return p == A(0) ? A(m != A(0)) : pow(m, p);
    } else {
      return math::convert<A>(x);
    }
  }
  static A combine(A a, A b) {
    if constexpr (Op == ReduceOp::Prod) return math::mul(a, b);
    else if constexpr (Op == ReduceOp::NormInf) return math::maximum(a, b);
    else if constexpr (Op == ReduceOp::All) return a && b;
    else if constexpr (Op == ReduceOp::Any) return a || b;
    // Integer sums wrap around on overflow, as PyTorch's do (two's complement, not UB).
    else if constexpr (std::is_same_v<A, int64_t>)
      return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    else return a + b;
  }
};

// Pairwise combination of a stream of partial results (a binary counter):
// two partials of the same level merge into one of the next level.
template <class A, class Red, int Width>
struct PairwiseStack {
  A vals[kMaxLevels][Width];
  int levels[kMaxLevels];
  int depth = 0;

  void push(const A* v, int level) {
    A cur[Width];
    std::copy(v, v + Width, cur);
    while (depth > 0 && levels[depth - 1] == level) {
      --depth;
      for (int l = 0; l < Width; ++l) cur[l] = Red::combine(vals[depth][l], cur[l]);
      ++level;
    }
    std::copy(cur, cur + Width, vals[depth]);
    levels[depth++] = level;
  }
  void result(A* out) const {
    for (int l = 0; l < Width; ++l) {
      A r = Red::identity();
      for (int i = 0; i < depth; ++i) r = i == 0 ? vals[0][l] : Red::combine(r, vals[i][l]);
      out[l] = r;
    }
  }
};

template <class In, class A, class Red>
A reduce_block(const Red& red, const In* x, int64_t n) {
  A acc[8];
  std::fill(acc, acc + 8, Red::identity());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] = Red::combine(acc[j], red.map(x[i + j]));
  }
  for (int j = 0; i < n; ++i, ++j) acc[j] = Red::combine(acc[j], red.map(x[i]));
  return Red::combine(Red::combine(Red::combine(acc[0], acc[1]), Red::combine(acc[2], acc[3])),
                      Red::combine(Red::combine(acc[4], acc[5]), Red::combine(acc[6], acc[7])));
}

// Pushes the blocks of one contiguous run.
template <class In, class A, class Red>
void push_run(PairwiseStack<A, Red, 1>& stack, const Red& red, const In* x, int64_t n) {
  for (int64_t b = 0; b < n; b += kBlock) {
    const A v = reduce_block<In, A>(red, x + b, std::min(kBlock, n - b));
    stack.push(&v, 0);
  }
}

// store(out_index, accumulator) writes one finished output.
template <class In, class A, class Red, class Store>
void reduce_map_combine(const Layout& lay, const Red& red, const In* in, const Store& store) {
  using Stack = PairwiseStack<A, Red, 1>;
  if (lay.red_count == 0) {
    for (int64_t o = 0; o < lay.out_count; ++o) store(o, Red::identity());
    return;
  }
  if (lay.inner_reduced) {
    const int64_t run = lay.rsize[lay.nr - 1], runs = lay.red_count / run;
    if (lay.out_count == 1 && runs == 1 && run >= 2 * kPiece) {
      const int64_t npieces = (run + kPiece - 1) / kPiece;
      std::vector<Stack> pieces(npieces);
      parallel_for(0, npieces, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          push_run<In, A>(pieces[i], red, in + i * kPiece, std::min(kPiece, run - i * kPiece));
      });
      Stack total;
      for (const Stack& piece : pieces)
        for (int i = 0; i < piece.depth; ++i) total.push(piece.vals[i], piece.levels[i]);
      A r;
      total.result(&r);
      store(0, r);
      return;
    }
    parallel_for(0, lay.out_count, std::max<int64_t>(1, kGrainSize / lay.red_count), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const int64_t base = offset_of(o, lay.ksize, lay.kstride, lay.nk);
        Stack stack;
        for (int64_t r = 0; r < runs; ++r)
          push_run<In, A>(stack, red, in + base + offset_of(r, lay.rsize, lay.rstride, lay.nr - 1), run);
        A v;
        stack.result(&v);
        store(o, v);
      }
    });
    return;
  }
  // The innermost dimension is kept: reduce kLanes neighbouring outputs at once, row by row.
  using LaneStack = PairwiseStack<A, Red, kLanes>;
  const int64_t lanes = lay.ksize[lay.nk - 1], groups = lay.out_count / lanes;
  const int64_t tiles = (lanes + kLanes - 1) / kLanes;
  const int64_t work = std::max<int64_t>(1, lay.red_count * std::min(lanes, kLanes));
  parallel_for(0, groups * tiles, std::max<int64_t>(1, kGrainSize / work), [&](int64_t begin, int64_t end) {
    auto stack = std::make_unique<LaneStack>();
    for (int64_t t = begin; t < end; ++t) {
      const int64_t g = t / tiles, l0 = (t % tiles) * kLanes, width = std::min(kLanes, lanes - l0);
      const In* base = in + offset_of(g, lay.ksize, lay.kstride, lay.nk - 1) + l0;
      stack->depth = 0;
      for (int64_t r0 = 0; r0 < lay.red_count; r0 += kRowBlock) {
        A acc[kLanes];
        std::fill(acc, acc + kLanes, Red::identity());
        for (int64_t r = r0; r < std::min(lay.red_count, r0 + kRowBlock); ++r) {
          const In* row = base + offset_of(r, lay.rsize, lay.rstride, lay.nr);
          for (int64_t l = 0; l < width; ++l) acc[l] = Red::combine(acc[l], red.map(row[l]));
        }
        stack->push(acc, 0);
      }
      A out[kLanes];
      stack->result(out);
      for (int64_t l = 0; l < width; ++l) store(g * lanes + l0 + l, out[l]);
    }
  });
}

// Max/Min with the flat position of the first extremum in the reduced space; NaN wins.
template <ReduceOp Op, class V>
bool better(V x, V best) {
  if (math::is_nan(best)) return false;
  if (math::is_nan(x)) return true;
  if constexpr (Op == ReduceOp::Max) return x > best;
  else return x < best;
}

template <ReduceOp Op, class In, class Store>
void reduce_extremum(const Layout& lay, const In* in, const Store& store) {
  using V = math::opmath_t<In>;
  if (lay.inner_reduced) {
    const int64_t run = lay.rsize[lay.nr - 1], runs = lay.red_count / run;
    parallel_for(0, lay.out_count, std::max<int64_t>(1, kGrainSize / lay.red_count), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const int64_t base = offset_of(o, lay.ksize, lay.kstride, lay.nk);
        V best = math::convert<V>(in[base]);
        int64_t best_index = 0;
        for (int64_t r = 0; r < runs; ++r) {
          const In* x = in + base + offset_of(r, lay.rsize, lay.rstride, lay.nr - 1);
          for (int64_t i = 0; i < run; ++i) {
            const V v = math::convert<V>(x[i]);
            if (better<Op>(v, best)) {
              best = v;
              best_index = r * run + i;
            }
          }
        }
        store(o, best, best_index);
      }
    });
    return;
  }
  const int64_t lanes = lay.ksize[lay.nk - 1], groups = lay.out_count / lanes;
  parallel_for(0, groups, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, lay.red_count * lanes)),
               [&](int64_t begin, int64_t end) {
                 // Not std::vector<V>: V may be bool.
                 auto best = std::make_unique<V[]>(lanes);
                 auto best_index = std::make_unique<int64_t[]>(lanes);
                 for (int64_t g = begin; g < end; ++g) {
                   const In* base = in + offset_of(g, lay.ksize, lay.kstride, lay.nk - 1);
                   for (int64_t l = 0; l < lanes; ++l) best[l] = math::convert<V>(base[l]);
                   std::fill(best_index.get(), best_index.get() + lanes, 0);
                   for (int64_t r = 0; r < lay.red_count; ++r) {
                     const In* row = base + offset_of(r, lay.rsize, lay.rstride, lay.nr);
                     for (int64_t l = 0; l < lanes; ++l) {
                       const V v = math::convert<V>(row[l]);
                       if (better<Op>(v, best[l])) {
                         best[l] = v;
                         best_index[l] = r;
                       }
                     }
                   }
                   for (int64_t l = 0; l < lanes; ++l) store(g * lanes + l, best[l], best_index[l]);
                 }
               });
}

constexpr bool is_norm(ReduceOp op) {
  return op == ReduceOp::NormP2 || op == ReduceOp::NormP || op == ReduceOp::NormInf;
}

void check_reduce(const ReduceArgs& args) {
  const char* name = math::op_name(args.op);
  if (args.ndim < 0 || args.ndim > kMaxDims)
    raise<ValueError>(name, ": invalid number of dimensions ", args.ndim, " (must be in [0, ", kMaxDims, "])");
  for (int d = 0; d < args.ndim; ++d)
    if (args.sizes[d] < 0) raise<ValueError>(name, ": invalid size ", args.sizes[d], " at dimension ", d);
  const DtypeCategory in = category(args.in_dtype), out = category(args.out_dtype);
  bool ok = true;
  switch (args.op) {
    case ReduceOp::Max: case ReduceOp::Min:
      ok = in != DtypeCategory::Complex && args.out_dtype == args.in_dtype;
      break;
    case ReduceOp::All: case ReduceOp::Any:
      ok = args.out_dtype == kBool;
      break;
    case ReduceOp::Mean:
      ok = out == DtypeCategory::Floating || out == DtypeCategory::Complex;
      break;
    case ReduceOp::NormP2: case ReduceOp::NormP: case ReduceOp::NormInf:
      ok = (in == DtypeCategory::Floating || in == DtypeCategory::Complex) && out == DtypeCategory::Floating &&
           (in != DtypeCategory::Complex || args.out_dtype == kFloat32 || args.out_dtype == kFloat64);
      break;
    case ReduceOp::Sum: case ReduceOp::Prod:
      break;
  }
  if (!ok)
    raise<NotImplementedError>(name, ": not implemented for input ", to_string(args.in_dtype), " and output ",
                               to_string(args.out_dtype), " on the CPU");
}

// The dtype the kernels read. Other inputs are converted to it first, as
// PyTorch converts a reduction's input to its dtype (sum(x, dtype=...)).
Dtype kernel_dtype(const ReduceArgs& args) {
  switch (args.op) {
    case ReduceOp::Max: case ReduceOp::Min: case ReduceOp::All: case ReduceOp::Any:
      return args.in_dtype;
    case ReduceOp::NormP2: case ReduceOp::NormP: case ReduceOp::NormInf:
      return is_complex(args.in_dtype) ? to_complex_dtype(args.out_dtype) : args.out_dtype;
    default:
      return args.out_dtype;
  }
}

template <ReduceOp Op, class In>
void reduce_typed(const ReduceArgs& args, const Layout& lay, const In* in) {
  if constexpr (Op == ReduceOp::Max || Op == ReduceOp::Min) {
    if constexpr (!math::is_complex_v<In>) {
      if (lay.red_count == 0)
        raise<IndexError>(math::op_name(Op), ": cannot reduce over an empty dimension (no identity)");
      In* out = static_cast<In*>(args.out);
      reduce_extremum<Op>(lay, in, [&](int64_t o, math::opmath_t<In> v, int64_t index) {
        out[o] = math::convert<In>(v);
        if (args.indices) args.indices[o] = index;
      });
    }
  } else if constexpr (Op == ReduceOp::All || Op == ReduceOp::Any) {
    bool* out = static_cast<bool*>(args.out);
    reduce_map_combine<In, bool>(lay, Reducer<Op, In, bool>{}, in, [&](int64_t o, bool v) { out[o] = v; });
  } else if constexpr (!is_norm(Op) || !std::is_integral_v<In>) {
    using Out = std::conditional_t<math::is_complex_v<In>, math::real_t<In>, In>;
    using OutT = std::conditional_t<is_norm(Op), Out, In>;
    using A = math::opmath_t<OutT>;
    OutT* out = static_cast<OutT*>(args.out);
    Reducer<Op, In, A> red;
    red.p = math::convert<A>(args.p);
    const auto store = [&](int64_t o, A acc) {
      using std::pow;
      using std::sqrt;
      if constexpr (Op == ReduceOp::Mean) {
        // PyTorch (2.1 on) divides the float sum of float16/bfloat16 and rounds once.
        out[o] = math::convert<OutT>(math::div(acc, math::convert<A>(lay.red_count)));
      } else if constexpr (Op == ReduceOp::NormP2) {
        out[o] = math::convert<OutT>(sqrt(acc));
      } else if constexpr (Op == ReduceOp::NormP) {
        out[o] = math::convert<OutT>(red.p == A(0) ? acc : pow(acc, A(1) / red.p));
      } else {
        out[o] = math::convert<OutT>(acc);
      }
    };
    reduce_map_combine<In, A>(lay, red, in, store);
  }
}

}  // namespace

void CpuBackend::reduce(const ReduceArgs& args) {
  check_reduce(args);
  const Layout lay = make_layout(args);
  if (lay.out_count == 0) return;
  const Dtype dtype = kernel_dtype(args);
  const void* in = args.in;
  std::unique_ptr<void, void (*)(void*)> converted(nullptr, std::free);
  if (dtype != args.in_dtype && lay.red_count > 0) {
    const int64_t numel = lay.out_count * lay.red_count;
    converted.reset(allocate(static_cast<std::size_t>(numel) * element_size(dtype), 0));
    cast(args.in, args.in_dtype, converted.get(), dtype, numel);
    in = converted.get();
  }
  detail::visit_enum<ReduceOp, kNumReduceOps>(args.op, [&](auto op_constant) {
    constexpr ReduceOp Op = decltype(op_constant)::value;
    dispatch_dtype(dtype, [&](auto tag) {
      using In = decltype(tag);
      reduce_typed<Op>(args, lay, static_cast<const In*>(in));
    });
  });
}

}  // namespace descent
