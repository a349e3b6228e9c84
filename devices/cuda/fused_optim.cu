// Fused optimizer updates (Adam/AdamW, SGD): one launch per dtype bucket,
// one thread per element of all its tensors together. Each thread finds its
// tensor by binary search over the tensors' starting offsets in a table
// uploaded once per step. The per-element math is devices/fused_optim_math.h,
// shared with the CPU backend, so the results agree bit for bit.
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/for_each.h>

#include <vector>

#include "devices/cuda/fused_table.h"
#include "devices/cuda/thrust_backend.h"
#include "devices/fused_optim_math.h"

namespace descent::detail::DESCENT_THRUST_NS {

namespace {
using namespace fused_table;

template <class S>
struct AdamTensor {
  S* param;
  S* grad;
  S* exp_avg;
  S* exp_avg_sq;
  S* max_exp_avg_sq;
  int64_t start;
  fused::AdamScalars<math::opmath_t<S>> scalars;
};

template <class S>
struct AdamKernel {
  const AdamTensor<S>* tensors;
  int64_t count;
  fused::AdamFlags flags;
  AmpInputs amp;

  DESCENT_HOST_DEVICE void operator()(int64_t i) const {
    using T = math::opmath_t<S>;
    // found_inf is one flag for the whole bucket: a skipped step touches nothing.
    if (amp.found_inf != nullptr && *amp.found_inf != 0.0f) return;
    const AdamTensor<S>& t = tensors[find_tensor(tensors, count, i)];
    const int64_t j = i - t.start;
    const T grad_scale = flags.unscale ? static_cast<T>(*amp.grad_scale) : T(1);
    fused::adam_update(t.scalars, flags, grad_scale, j, t.param, t.grad, t.exp_avg, t.exp_avg_sq, t.max_exp_avg_sq);
  }
};

template <class S>
struct SgdTensor {
  S* param;
  S* grad;
  S* momentum_buffer;
  int64_t start;
};

template <class S>
struct SgdKernel {
  const SgdTensor<S>* tensors;
  int64_t count;
  fused::SgdScalars<math::opmath_t<S>> scalars;
  fused::SgdFlags flags;
  AmpInputs amp;

  DESCENT_HOST_DEVICE void operator()(int64_t i) const {
    using T = math::opmath_t<S>;
    if (amp.found_inf != nullptr && *amp.found_inf != 0.0f) return;
    const SgdTensor<S>& t = tensors[find_tensor(tensors, count, i)];
    const int64_t j = i - t.start;
    const T grad_scale = flags.unscale ? static_cast<T>(*amp.grad_scale) : T(1);
    fused::sgd_update(scalars, flags, grad_scale, j, t.param, t.grad, t.momentum_buffer);
  }
};

}  // namespace

void fused_adam(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedAdamArgs& args) {
  dispatch_floating("fused_adam", dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    std::vector<AdamTensor<S>> table;
    int64_t total = 0;
    for (const FusedTensor& t : tensors) {
      table.push_back({static_cast<S*>(t.param), static_cast<S*>(t.grad), static_cast<S*>(t.state[0]),
                       static_cast<S*>(t.state[1]), static_cast<S*>(t.state[2]), total,
                       fused::AdamScalars<math::opmath_t<S>>(args, t)});
      total += t.numel;
    }
    if (total == 0) return;
    const DeviceTable<AdamTensor<S>> device_table(table);
    const AdamKernel<S> kernel{device_table.get(), static_cast<int64_t>(table.size()),
                               fused::adam_flags<math::opmath_t<S>>(args), args.amp};
    thrust::for_each_n(policy(), first_index(), total, kernel);
  });
}

void fused_sgd(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedSgdArgs& args) {
  dispatch_floating("fused_sgd", dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    std::vector<SgdTensor<S>> table;
    int64_t total = 0;
    for (const FusedTensor& t : tensors) {
      table.push_back(
          {static_cast<S*>(t.param), static_cast<S*>(t.grad), static_cast<S*>(t.state[0]), total});
      total += t.numel;
    }
    if (total == 0) return;
    const DeviceTable<SgdTensor<S>> device_table(table);
    const SgdKernel<S> kernel{device_table.get(),
                              static_cast<int64_t>(table.size()),
                              fused::SgdScalars<math::opmath_t<S>>(args),
                              fused::sgd_flags(args), args.amp};
    thrust::for_each_n(policy(), first_index(), total, kernel);
  });
}

}  // namespace descent::detail::DESCENT_THRUST_NS
