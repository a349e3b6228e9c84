// Fused optimizer kernels on the CPU: the work of a whole bucket is cut into
// cache-friendly chunks (many small tensors share a chunk list with the
// slices of large ones) and spread over the thread pool. Each chunk is one
// pass over its param, grad and state memory, in a loop specialised for the
// update's flags so that it vectorises.
#include <algorithm>
#include <type_traits>

#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices/cpu/cpu_backend.h"
#include "devices/cpu/fused_chunks.h"
#include "devices/fused_optim_math.h"

namespace descent {

namespace {
using namespace cpu_fused;
// The loops take their arrays as __restrict parameters: param, grad and state
// never overlap, and without the promise the compiler would need more
// run-time alias checks than it is willing to emit.
template <class S, class F, class T = math::opmath_t<S>>
void adam_range(const fused::AdamScalars<T>& s, T grad_scale, int64_t n, S* __restrict p, S* __restrict g,
                S* __restrict m, S* __restrict v, S* __restrict vmax) {
  for (int64_t i = 0; i < n; ++i) fused::adam_update(s, F{}, grad_scale, i, p, g, m, v, vmax);
}

template <class S, class F>
void adam_kernel(const std::vector<FusedTensor>& tensors, const FusedAdamArgs& args) {
  using T = math::opmath_t<S>;
  const T grad_scale = F::unscale ? static_cast<T>(*args.amp.grad_scale) : T(1);
  for_each_chunk(tensors, [&](const FusedTensor& t, int64_t begin, int64_t end) {
    adam_range<S, F>(fused::AdamScalars<T>(args, t), grad_scale, end - begin, element<S>(t.param, begin),
                     element<S>(t.grad, begin), element<S>(t.state[0], begin), element<S>(t.state[1], begin),
                     element<S>(t.state[2], begin));
  });
}

template <class S, class F, class T = math::opmath_t<S>>
void sgd_range(const fused::SgdScalars<T>& s, T grad_scale, int64_t n, S* __restrict p, S* __restrict g,
               S* __restrict buf) {
  for (int64_t i = 0; i < n; ++i) fused::sgd_update(s, F{}, grad_scale, i, p, g, buf);
}

template <class S, class F>
void sgd_kernel(const std::vector<FusedTensor>& tensors, const FusedSgdArgs& args) {
  using T = math::opmath_t<S>;
  const T grad_scale = F::unscale ? static_cast<T>(*args.amp.grad_scale) : T(1);
  const fused::SgdScalars<T> s(args);
  for_each_chunk(tensors, [&](const FusedTensor& t, int64_t begin, int64_t end) {
    sgd_range<S, F>(s, grad_scale, end - begin, element<S>(t.param, begin), element<S>(t.grad, begin),
                    element<S>(t.state[0], begin));
  });
}

}  // namespace

void CpuBackend::fused_adam(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedAdamArgs& args) {
  // found_inf is one flag for the whole bucket: a skipped step touches nothing.
  if (args.amp.found_inf != nullptr && *args.amp.found_inf != 0.0f) return;
  dispatch_floating("fused_adam", dtype, [&](auto tag) {
    using S = decltype(tag);
    const fused::AdamFlags f = fused::adam_flags<math::opmath_t<S>>(args);
    with_constants(
        [&](auto l2, auto lerp_from_start, auto amsgrad, auto unscale) {
          adam_kernel<S, fused::StaticAdamFlags<l2(), lerp_from_start(), amsgrad(), unscale()>>(tensors, args);
        },
        f.l2_weight_decay, f.lerp_from_start, f.amsgrad, f.unscale);
  });
}

void CpuBackend::fused_sgd(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedSgdArgs& args) {
  if (args.amp.found_inf != nullptr && *args.amp.found_inf != 0.0f) return;
  const fused::SgdFlags f = fused::sgd_flags(args);
  dispatch_floating("fused_sgd", dtype, [&](auto tag) {
    using S = decltype(tag);
    // Without momentum, nesterov and the first step make no difference: no variants for them.
    if (f.momentum)
      with_constants(
          [&](auto weight_decay, auto unscale, auto nesterov, auto first_step) {
            sgd_kernel<S, fused::StaticSgdFlags<weight_decay(), unscale(), true, nesterov(), first_step()>>(tensors,
                                                                                                             args);
          },
          f.weight_decay, f.unscale, f.nesterov, f.first_step);
    else
      with_constants(
          [&](auto weight_decay, auto unscale) {
            sgd_kernel<S, fused::StaticSgdFlags<weight_decay(), unscale(), false, false, false>>(tensors, args);
          },
          f.weight_decay, f.unscale);
  });
}

}  // namespace descent
