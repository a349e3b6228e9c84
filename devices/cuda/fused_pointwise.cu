// The fused pointwise optimizer kernels (every kernel of
// devices/optim_math/kernels.h), over whole tensors or over the rows a
// sparse gradient touches: one launch per dtype bucket, one thread per
// element of all its tensors together, each thread finding its tensor by
// binary search in the table uploaded once per step. The per-element math is
// the same header the CPU backend runs, so the results agree bit for bit.
#include <thrust/for_each.h>

#include <array>
#include <vector>

#include "devices/cuda/fused_table.h"
#include "devices/cuda/thrust_backend.h"
#include "devices/optim_math/kernels.h"

namespace descent::detail::DESCENT_THRUST_NS {

namespace {
using namespace fused_table;

template <class S>
struct PointwiseTensor {
  S* param;
  S* grad;
  S* state[kMaxFusedState];
  int64_t start;
  math::opmath_t<S> scalars[kMaxFusedTensorScalars];
  const S* row;  // FusedBroadcast's operands; row null: none
  const S* col;
  const S* matrix;
  int64_t rows, cols;
};

template <class M, class S>
struct PointwiseKernel {
  using T = math::opmath_t<S>;
  const PointwiseTensor<S>* tensors;
  int64_t count;
  T scalars[kMaxFusedScalars];
  optim_math::Flags flags;
  bool active[kMaxFusedState];  // which state slots exist under these flags
  AmpInputs amp;

  DESCENT_HOST_DEVICE void operator()(int64_t i) const {
    // found_inf is one flag for the whole bucket: a skipped step touches nothing.
    if (amp.found_inf != nullptr && *amp.found_inf != 0.0f) return;
    const PointwiseTensor<S>& t = tensors[find_tensor(tensors, count, i)];
    const int64_t j = i - t.start;
    T p = math::convert<T>(t.param[j]);
    T g = math::convert<T>(t.grad[j]);
    if (amp.grad_scale != nullptr) {
      g = g / static_cast<T>(*amp.grad_scale);
      t.grad[j] = math::convert<S>(g);
    }
    T s[kMaxFusedState] = {};
    for (int k = 0; k < M::kSlots; ++k)
      if (active[k]) s[k] = math::convert<T>(t.state[k][j]);
    if constexpr (optim_math::kReadsBroadcast<M>) {
      T b[3] = {};
      if (t.row != nullptr) {
        const int64_t row = j / t.cols, matrix = row / t.rows;
        b[0] = math::convert<T>(t.row[row]);
        b[1] = math::convert<T>(t.col[matrix * t.cols + j % t.cols]);
        b[2] = math::convert<T>(t.matrix[matrix]);
      }
      M::update(flags, scalars, t.scalars, p, g, s, b);
    } else {
      M::update(flags, scalars, t.scalars, p, g, s);
    }
    t.param[j] = math::convert<S>(p);
    for (int k = 0; k < M::kSlots; ++k)
      if (active[k]) t.state[k][j] = math::convert<S>(s[k]);
  }
};

// A tensor of a rows launch: its touched rows are flat elements
// [start, start + nrows·row_size) of the launch.
template <class S>
struct RowsTensor {
  S* param;
  const S* values;
  S* state[kMaxFusedState];
  const int64_t* rows;
  int64_t row_size;
  int64_t start;
  math::opmath_t<S> scalars[kMaxFusedTensorScalars];
};

template <class M, class S>
struct RowsKernel {
  using T = math::opmath_t<S>;
  const RowsTensor<S>* tensors;
  int64_t count;
  T scalars[kMaxFusedScalars];
  optim_math::Flags flags;
  bool active[kMaxFusedState];

  DESCENT_HOST_DEVICE void operator()(int64_t i) const {
    // fused_pointwise_rows rejects kernels that read broadcast operands.
    if constexpr (!optim_math::kReadsBroadcast<M>) update(i);
  }

  DESCENT_HOST_DEVICE void update(int64_t i) const {
    const RowsTensor<S>& t = tensors[find_tensor(tensors, count, i)];
    const int64_t j = i - t.start;
    const int64_t at = t.rows[j / t.row_size] * t.row_size + j % t.row_size;
    T p = math::convert<T>(t.param[at]);
    const T g = math::convert<T>(t.values[j]);
    T s[kMaxFusedState] = {};
    for (int k = 0; k < M::kSlots; ++k)
      if (active[k]) s[k] = math::convert<T>(t.state[k][at]);
    M::update(flags, scalars, t.scalars, p, g, s);
    t.param[at] = math::convert<S>(p);
    for (int k = 0; k < M::kSlots; ++k)
      if (active[k]) t.state[k][at] = math::convert<S>(s[k]);
  }
};

}  // namespace

void fused_pointwise_rows(Dtype dtype, const std::vector<FusedRows>& tensors, const FusedPointwiseArgs& args) {
  if (!optim_math::dispatch_kernel(args.kernel, [](auto) {}))
    raise<ValueError>("fused_pointwise: unknown kernel id ", args.kernel);
  if (args.amp.grad_scale != nullptr || args.amp.found_inf != nullptr)
    raise<ValueError>("fused_pointwise_rows: AMP inputs (grad_scale, found_inf) are not supported over rows");
  optim_math::dispatch_kernel(args.kernel, [&](auto math) {
    if (optim_math::kReadsBroadcast<decltype(math)>)
      raise<ValueError>("fused_pointwise_rows: kernel ", args.kernel, " reads broadcast operands, which rows lack");
  });
  dispatch_floating("fused_pointwise_rows", dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using T = math::opmath_t<S>;
    std::vector<RowsTensor<S>> table;
    int64_t total = 0;
    for (const FusedRows& t : tensors) {
      if (t.nrows == 0 || t.row_size == 0) continue;
      RowsTensor<S> entry{static_cast<S*>(t.param), static_cast<const S*>(t.values), {}, t.rows, t.row_size, total, {}};
      for (std::size_t k = 0; k < kMaxFusedState; ++k) entry.state[k] = static_cast<S*>(t.state[k]);
      for (std::size_t k = 0; k < kMaxFusedTensorScalars; ++k) entry.scalars[k] = static_cast<T>(t.scalars[k]);
      table.push_back(entry);
      total += t.nrows * t.row_size;
    }
    if (total == 0) return;
    const DeviceTable<RowsTensor<S>> device_table(table);
    optim_math::dispatch_kernel(args.kernel, [&](auto math) {
      using M = decltype(math);
      RowsKernel<M, S> kernel{device_table.get(), static_cast<int64_t>(table.size()), {}, {args.flags}, {}};
      for (int k = 0; k < M::kSlots; ++k) kernel.active[k] = kernel.flags.has(M::kSlotFlags[k]);
      for (std::size_t k = 0; k < kMaxFusedScalars; ++k) kernel.scalars[k] = static_cast<T>(args.scalars[k]);
      thrust::for_each_n(policy(), first_index(), total, kernel);
    });
  });
}

void fused_pointwise(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedPointwiseArgs& args) {
  if (!optim_math::dispatch_kernel(args.kernel, [](auto) {}))
    raise<ValueError>("fused_pointwise: unknown kernel id ", args.kernel);
  dispatch_floating("fused_pointwise", dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using T = math::opmath_t<S>;
    std::vector<PointwiseTensor<S>> table;
    int64_t total = 0;
    for (const FusedTensor& t : tensors) {
      const FusedBroadcast& b = t.broadcast;
      PointwiseTensor<S> entry{static_cast<S*>(t.param), static_cast<S*>(t.grad), {}, total, {},
                               static_cast<const S*>(b.row), static_cast<const S*>(b.col),
                               static_cast<const S*>(b.matrix), b.rows, b.cols};
      for (std::size_t k = 0; k < kMaxFusedState; ++k) entry.state[k] = static_cast<S*>(t.state[k]);
      for (std::size_t k = 0; k < kMaxFusedTensorScalars; ++k) entry.scalars[k] = static_cast<T>(t.scalars[k]);
      table.push_back(entry);
      total += t.numel;
    }
    if (total == 0) return;
    const DeviceTable<PointwiseTensor<S>> device_table(table);
    optim_math::dispatch_kernel(args.kernel, [&](auto math) {
      using M = decltype(math);
      PointwiseKernel<M, S> kernel{device_table.get(), static_cast<int64_t>(table.size()), {}, {args.flags}, {},
                                   args.amp};
      for (int k = 0; k < M::kSlots; ++k) kernel.active[k] = kernel.flags.has(M::kSlotFlags[k]);
      for (std::size_t k = 0; k < kMaxFusedScalars; ++k) kernel.scalars[k] = static_cast<T>(args.scalars[k]);
      thrust::for_each_n(policy(), first_index(), total, kernel);
    });
  });
}

}  // namespace descent::detail::DESCENT_THRUST_NS
