// The fused pointwise optimizer kernels on the CPU: every kernel of
// devices/optim_math/kernels.h through one loop template. The kernel's flag
// mask becomes a compile-time constant, so each variant's loop is straight
// code over restrict arrays that the compiler vectorises.
//
// Compiled once per instruction set (devices/meson.build), each time into the
// namespace DESCENT_CPU_ISA names; devices/cpu/cpu_isa.cpp picks one at run
// time. Helpers from headers (inline functions, templates over named types)
// are emitted by every variant under one name and the linker keeps the first:
// the library's own objects and the baseline variant come first on its link
// line, so a kept copy never needs more than the baseline.
#include <algorithm>
#include <array>
#include <type_traits>

#include "devices/cpu/cpu_backend.h"
#include "devices/cpu/cpu_isa.h"
#include "devices/cpu/fused_chunks.h"
#include "devices/optim_math/kernels.h"

#ifndef DESCENT_CPU_ISA
#error "DESCENT_CPU_ISA names the instruction set this variant is compiled for (devices/meson.build)"
#endif

namespace descent::cpu_fused::DESCENT_CPU_ISA {

namespace {

// Calls fn(std::integral_constant<unsigned, mask>{}) for the low `Bits` bits of mask.
template <unsigned Bits, unsigned Known = 0, class Fn>
void with_mask(unsigned mask, Fn&& fn) {
  if constexpr (Bits == 0) {
    fn(std::integral_constant<unsigned, Known>{});
  } else {
    constexpr unsigned bit = 1u << (Bits - 1);
    if (mask & bit)
      with_mask<Bits - 1, Known | bit>(mask, fn);
    else
      with_mask<Bits - 1, Known>(mask, fn);
  }
}

// Whether state slot k exists for this flag mask.
template <class M, unsigned Mask>
constexpr bool slot_active(std::size_t k) {
  return k < M::kSlots && optim_math::StaticFlags<Mask>::has(M::kSlotFlags[k < M::kSlots ? k : 0]);
}

// The broadcast operands of a run of elements within one row of the
// [batch, rows, cols] view: that row's and matrix's values and the columns
// from the run's first. Absent (col null) for kernels that read none.
template <class S, class T = math::opmath_t<S>>
struct RowRun {
  T row = T(0), matrix = T(0);
  const S* col = nullptr;
};

// G: S, or const S where the grad is only read (no unscaling).
template <class M, class S, unsigned Mask, bool Unscale, class G, class T = math::opmath_t<S>>
void pointwise_range(const std::array<T, kMaxFusedScalars>& h, const std::array<T, kMaxFusedTensorScalars>& t,
                     T grad_scale, int64_t n, S* __restrict p, G* __restrict g, S* __restrict s0,
                     S* __restrict s1, S* __restrict s2, RowRun<S> run = {}) {
  constexpr optim_math::StaticFlags<Mask> flags{};
  constexpr bool a0 = slot_active<M, Mask>(0), a1 = slot_active<M, Mask>(1), a2 = slot_active<M, Mask>(2);
  for (int64_t i = 0; i < n; ++i) {
    T pv = math::convert<T>(p[i]);
    T gv = math::convert<T>(g[i]);
    if constexpr (Unscale) {
      // PyTorch's fused kernels leave the grads unscaled.
      gv = gv / grad_scale;
      g[i] = math::convert<S>(gv);
    }
    T sv[kMaxFusedState] = {a0 ? math::convert<T>(s0[i]) : T(0), a1 ? math::convert<T>(s1[i]) : T(0),
                            a2 ? math::convert<T>(s2[i]) : T(0)};
    if constexpr (optim_math::kReadsBroadcast<M>) {
      const T b[3] = {run.row, run.col ? math::convert<T>(run.col[i]) : T(0), run.matrix};
      M::update(flags, h, t, pv, gv, sv, b);
    } else {
      M::update(flags, h, t, pv, gv, sv);
    }
    p[i] = math::convert<S>(pv);
    if constexpr (a0) s0[i] = math::convert<S>(sv[0]);
    if constexpr (a1) s1[i] = math::convert<S>(sv[1]);
    if constexpr (a2) s2[i] = math::convert<S>(sv[2]);
  }
}

template <class T, std::size_t N>
std::array<T, N> rounded(const std::array<double, N>& values) {
  std::array<T, N> out{};
  for (std::size_t k = 0; k < N; ++k) out[k] = static_cast<T>(values[k]);
  return out;
}

// Calls range(begin, end, run) for elements [begin, end) of t split at its
// rows, so that each run's row and matrix operands are one value each.
template <class S, class Range>
void for_each_row_run(const FusedTensor& t, int64_t begin, int64_t end, Range&& range) {
  const FusedBroadcast& b = t.broadcast;
  if (b.row == nullptr) return range(begin, end, RowRun<S>{});
  const S* rows = static_cast<const S*>(b.row);
  const S* cols = static_cast<const S*>(b.col);
  const S* matrices = static_cast<const S*>(b.matrix);
  for (int64_t k = begin; k < end;) {
    const int64_t row = k / b.cols, stop = std::min(end, (row + 1) * b.cols), matrix = row / b.rows;
    using T = math::opmath_t<S>;
    range(k, stop,
          RowRun<S>{math::convert<T>(rows[row]), math::convert<T>(matrices[matrix]),
                    cols + matrix * b.cols + (k - row * b.cols)});
    k = stop;
  }
}

template <class M, class S, unsigned Mask, bool Unscale>
void pointwise_kernel(const std::vector<FusedTensor>& tensors, const FusedPointwiseArgs& args) {
  using T = math::opmath_t<S>;
  const auto h = rounded<T>(args.scalars);
  const T grad_scale = Unscale ? static_cast<T>(*args.amp.grad_scale) : T(1);
  for_each_chunk(tensors, [&](const FusedTensor& t, int64_t chunk_begin, int64_t chunk_end) {
    const auto ts = rounded<T>(t.scalars);
    for_each_row_run<S>(t, chunk_begin, chunk_end, [&](int64_t begin, int64_t end, RowRun<S> run) {
      pointwise_range<M, S, Mask, Unscale, S>(h, ts, grad_scale, end - begin, element<S>(t.param, begin),
                                           element<S>(t.grad, begin), element<S>(t.state[0], begin),
                                           element<S>(t.state[1], begin), element<S>(t.state[2], begin), run);
    });
  });
}
// Touched rows lie scattered over the table, where the hardware prefetcher,
// which follows sequential streams within a page, does not look: the param
// and state lines of the row this many rows ahead are requested before the
// current one is updated, so the misses of several rows overlap.
constexpr int64_t kPrefetchRowsAhead = 8;
constexpr int64_t kCacheLine = 64;

// GCC deletes a loop of __builtin_prefetch as code without effect; an asm
// statement it must keep.
inline void prefetch_line(const char* line) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*line));
#else
  __builtin_prefetch(line, 1);
#endif
}

template <class S>
void prefetch_row(const FusedRows& t, int64_t i) {
  const int64_t begin = t.rows[i] * t.row_size * static_cast<int64_t>(sizeof(S));
  const int64_t bytes = t.row_size * static_cast<int64_t>(sizeof(S));
  auto lines = [&](void* base) {
    if (!base) return;
    const char* row = static_cast<const char*>(base) + begin;
    for (int64_t offset = 0; offset < bytes; offset += kCacheLine) prefetch_line(row + offset);
  };
  lines(t.param);
  for (void* state : t.state) lines(state);
}

// Each touched row is one contiguous run of param, state and grad values.
template <class M, class S, unsigned Mask>
void rows_kernel(const std::vector<FusedRows>& tensors, const FusedPointwiseArgs& args) {
  using T = math::opmath_t<S>;
  const auto h = rounded<T>(args.scalars);
  for (const FusedRows& t : tensors) {
    const auto ts = rounded<T>(t.scalars);
    const S* values = static_cast<const S*>(t.values);
    const int64_t grain = std::max<int64_t>(1, kGrainSize / std::max<int64_t>(t.row_size, 1));
    parallel_for(0, t.nrows, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < std::min(hi, lo + kPrefetchRowsAhead); ++i) prefetch_row<S>(t, i);
      for (int64_t i = lo; i < hi; ++i) {
        if (i + kPrefetchRowsAhead < hi) prefetch_row<S>(t, i + kPrefetchRowsAhead);
        const int64_t at = t.rows[i] * t.row_size;
        pointwise_range<M, S, Mask, false, const S>(h, ts, T(1), t.row_size, element<S>(t.param, at),
                                                    values + i * t.row_size, element<S>(t.state[0], at),
                                                    element<S>(t.state[1], at), element<S>(t.state[2], at));
      }
    });
  }
}

// Runs fn(Math, mask constant) for the launch's kernel and flags.
template <class Fn>
void dispatch_launch(const FusedPointwiseArgs& args, Fn&& fn) {
  const bool known = optim_math::dispatch_kernel(args.kernel, [&](auto math) {
    using M = decltype(math);
    with_mask<M::kFlagBits>(args.flags, [&](auto mask) { fn(math, mask); });
  });
  if (!known) raise<ValueError>("fused_pointwise: unknown kernel id ", args.kernel);
}
}  // namespace

void fused_pointwise_rows(Dtype dtype, const std::vector<FusedRows>& tensors, const FusedPointwiseArgs& args) {
  dispatch_floating("fused_pointwise_rows", dtype, [&](auto tag) {
    using S = decltype(tag);
    dispatch_launch(args, [&](auto math, auto mask) {
      using M = decltype(math);
      if constexpr (optim_math::kReadsBroadcast<M>)
        raise<ValueError>("fused_pointwise_rows: kernel ", args.kernel, " reads broadcast operands, which rows lack");
      else
        rows_kernel<M, S, decltype(mask)::value>(tensors, args);
    });
  });
}

void fused_pointwise(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedPointwiseArgs& args) {
  dispatch_floating("fused_pointwise", dtype, [&](auto tag) {
    using S = decltype(tag);
    dispatch_launch(args, [&](auto math, auto mask) {
      with_constants([&](auto unscale) { pointwise_kernel<decltype(math), S, decltype(mask)::value, decltype(unscale)::value>(tensors, args); },
                     args.amp.grad_scale != nullptr);
    });
  });
}

}  // namespace descent::cpu_fused::DESCENT_CPU_ISA
