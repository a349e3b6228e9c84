#pragma once
// A segmented reduction over any set of dims of a contiguous input, for any
// accumulator type and associative, commutative combine function, built
// from plain for_each launches (cheap to compile, identical on every Thrust
// system):
//
// pass 1 splits each output's segment into `chunks` interleaved slices, so
// that there are enough of them to fill a GPU, and reduces each slice in one
// thread; merge passes then combine the slices of each output, up to
// kMergeWidth at a time, until one value per output is left. Threads next to
// each other read memory next to each other whichever dims are reduced, and
// the order of operations depends only on the shape, so results are
// reproducible run to run.
#include <thrust/device_vector.h>
#include <thrust/for_each.h>

#include <algorithm>
#include <utility>

#include "devices/cuda/thrust_system.h"

namespace descent::detail::DESCENT_THRUST_NS {

// The input's dims split into kept (output) and reduced ones, unit dims
// dropped and neighbouring dims of the same kind merged.
struct ReduceLayout {
  int nkeep = 0, nreduce = 0;
  int64_t keep_sizes[kMaxDims] = {}, keep_strides[kMaxDims] = {};
  int64_t reduce_sizes[kMaxDims] = {}, reduce_strides[kMaxDims] = {};
  int64_t outputs = 1;         // number of output elements
  int64_t length = 1;          // elements reduced into each output
  bool outputs_inner = false;  // the innermost dim is kept

  // Offset of the first element of output o's segment.
  DESCENT_HOST_DEVICE int64_t base(int64_t o) const { return unravel(o, keep_sizes, keep_strides, nkeep); }
  // Offset of element r of a segment from its base; r is also the index
  // along the reduced dim when there is a single one.
  DESCENT_HOST_DEVICE int64_t offset(int64_t r) const {
    return unravel(r, reduce_sizes, reduce_strides, nreduce);
  }

 private:
  DESCENT_HOST_DEVICE static int64_t unravel(int64_t i, const int64_t* sizes, const int64_t* strides, int n) {
    int64_t off = 0;
    for (int d = n - 1; d > 0; --d) {
      const int64_t q = i / sizes[d];
      off += (i - q * sizes[d]) * strides[d];
      i = q;
    }
    return n > 0 ? off + i * strides[0] : off;
  }
};

inline ReduceLayout make_reduce_layout(const ReduceArgs& args) {
  ReduceLayout l;
  int64_t stride = 1;
  int last = -1;  // kind of the previous non-unit dim: 0 kept, 1 reduced
  for (int d = args.ndim - 1; d >= 0; --d) {
    const int64_t size = args.sizes[d];
    const int kind = args.reduce[d] ? 1 : 0;
    (kind ? l.length : l.outputs) *= size;
    if (size != 1) {
      int& n = kind ? l.nreduce : l.nkeep;
      int64_t* sizes = kind ? l.reduce_sizes : l.keep_sizes;
      int64_t* strides = kind ? l.reduce_strides : l.keep_strides;
      if (last < 0) l.outputs_inner = kind == 0;
      if (last == kind) {
        sizes[n - 1] *= size;  // merged dims keep the inner one's stride
      } else {
        sizes[n] = size;
        strides[n] = stride;
        ++n;
      }
      last = kind;
    }
    stride *= size;
  }
  // Dims were appended innermost first; the unravel helpers want outermost first.
  std::reverse(l.keep_sizes, l.keep_sizes + l.nkeep);
  std::reverse(l.keep_strides, l.keep_strides + l.nkeep);
  std::reverse(l.reduce_sizes, l.reduce_sizes + l.nreduce);
  std::reverse(l.reduce_strides, l.reduce_strides + l.nreduce);
  return l;
}

// Pass 1: thread t reduces slice c of output o into partial[c * outputs + o].
template <class Acc, class Term, class Combine>
struct SliceKernel {
  ReduceLayout layout;
  Term term;
  Combine combine;
  Acc init;
  int64_t chunks;
  Acc* partial;

  DESCENT_HOST_DEVICE void operator()(int64_t t) const {
    // Neighbouring threads take neighbouring outputs when the innermost dim
    // is kept, else neighbouring slices (elements) of one output.
    const int64_t o = layout.outputs_inner ? t % layout.outputs : t / chunks;
    const int64_t c = layout.outputs_inner ? t / layout.outputs : t % chunks;
    const int64_t base = layout.base(o);
    Acc acc = init;
    for (int64_t r = c; r < layout.length; r += chunks) acc = combine(acc, term(base + layout.offset(r), r));
    partial[c * layout.outputs + o] = acc;
  }
};

// A merge pass: thread t combines slices g, g + groups, g + 2 * groups, ...
// of output o (t = g * outputs + o) into group g of the next pass.
template <class Acc, class Combine>
struct MergeKernel {
  Combine combine;
  Acc init;
  int64_t outputs, chunks, groups;
  const Acc* partial;
  Acc* out;

  DESCENT_HOST_DEVICE void operator()(int64_t t) const {
    const int64_t o = t % outputs, g = t / outputs;
    Acc acc = init;
    for (int64_t c = g; c < chunks; c += groups) acc = combine(acc, partial[c * outputs + o]);
    out[t] = acc;
  }
};

// Enough slices in flight to keep a large GPU's memory system busy, each at
// least kMinSliceLength long; merge passes combine kMergeWidth slices each.
inline constexpr int64_t kTargetSlices = int64_t{1} << 18;
inline constexpr int64_t kMinSliceLength = 16;
inline constexpr int64_t kMergeWidth = 32;

// Writes layout.outputs accumulators to `out` (device memory).
// term(offset, r) -> Acc; combine(Acc, Acc) -> Acc with identity `init`.
template <class Acc, class Term, class Combine>
void segmented_reduce(const ReduceLayout& layout, Term term, Combine combine, Acc init, Acc* out) {
  const int64_t outputs = layout.outputs;
  if (outputs == 0) return;
  const int64_t wanted = (kTargetSlices + outputs - 1) / outputs;
  const int64_t useful = (layout.length + kMinSliceLength - 1) / kMinSliceLength;
  int64_t chunks = std::max<int64_t>(1, std::min(wanted, useful));
  if (chunks == 1) {
    thrust::for_each_n(policy(), first_index(), outputs,
                       SliceKernel<Acc, Term, Combine>{layout, term, combine, init, 1, out});
    return;
  }
  thrust::device_vector<Acc> partial(static_cast<std::size_t>(outputs * chunks));
  thrust::device_vector<Acc> next(
      static_cast<std::size_t>(outputs * ((chunks + kMergeWidth - 1) / kMergeWidth)));
  Acc* src = thrust::raw_pointer_cast(partial.data());
  Acc* dst = thrust::raw_pointer_cast(next.data());
  thrust::for_each_n(policy(), first_index(), outputs * chunks,
                     SliceKernel<Acc, Term, Combine>{layout, term, combine, init, chunks, src});
  while (chunks > 1) {
    const int64_t groups = (chunks + kMergeWidth - 1) / kMergeWidth;
    Acc* target = groups == 1 ? out : dst;
    thrust::for_each_n(policy(), first_index(), outputs * groups,
                       MergeKernel<Acc, Combine>{combine, init, outputs, chunks, groups, src, target});
    std::swap(src, dst);
    chunks = groups;
  }
}

}  // namespace descent::detail::DESCENT_THRUST_NS
