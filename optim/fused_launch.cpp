#include "optim/fused_launch.h"

#include <cstddef>

namespace descent::optim::detail {

void prefetch_fused_param(const FusedParam& p, int stage) {
  std::array<const TensorImpl*, 6> impls{p.param, p.grad, p.state[0], p.state[1], p.state[2], p.step_impl};
  for (const TensorImpl* impl : impls) {
    if (impl == nullptr) continue;
    const char* bytes = reinterpret_cast<const char*>(impl);
    if (stage == 0) {
      // The fields read here end at `layout`; an impl may straddle two lines.
      __builtin_prefetch(bytes);
      __builtin_prefetch(bytes + offsetof(TensorImpl, layout));
    } else if (stage == 1) {
      __builtin_prefetch(impl->storage.get(), 1);
      if (!impl->sizes.empty()) __builtin_prefetch(impl->sizes.data());
    }
  }
  if (p.step_impl == nullptr) return;
  if (stage == 0)
    __builtin_prefetch(reinterpret_cast<const char*>(p.step_impl) + offsetof(TensorImpl, autograd_meta));
  if (stage == 2 && p.step_impl->storage) __builtin_prefetch(p.step_impl->storage->data, 1);
}

void raise_bad_step_counter(const std::string& optimizer, const TensorImpl& step) {
  raise<RuntimeError>(optimizer, ": a param's `step` state must be a one-element dense tensor, got ",
                      impl::is_dense(step) ? "" : "a sparse tensor of shape ", shape_to_string(step.sizes));
}

void raise_layout_mismatch(const std::string& optimizer, const TensorImpl& param, const TensorImpl& other,
                           const char* what) {
  auto describe = [](const TensorImpl& t) {
    bool dense = impl::is_dense(t);
    std::string kind = !dense ? "sparse " : is_contiguous(t) ? "" : "non-contiguous ";
    return kind + to_string(t.dtype) + " " + shape_to_string(t.sizes) + " on " +
           (dense ? impl::device(t) : t.sparse_values.device()).str();
  };
  raise<RuntimeError>(optimizer, ": `fused=True` needs each param's ", what,
                      " to be a dense tensor of the param's "
                      "dtype, shape and device, but the param is ",
                      describe(param), " and its ", what, " is ", describe(other));
}

}  // namespace descent::optim::detail
