#pragma once
// Building the tensor lists of a fused step from raw tensor metadata.
//
// With thousands of small params a fused step is bound by cache misses on
// tensor metadata, not by arithmetic: every tensor is a handle, an impl, a
// storage and a shape, each on its own cache line. So the pass that builds
// the launch works on impl pointers captured earlier (while each handle was
// in cache), loads the metadata of params a few places ahead, and reads each
// line once: data pointers, checks and version bumps together.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "tensor/impl_access.h"
#include "optim/common.h"

namespace descent::optim::detail {

// One param of a fused step.
struct FusedParam {
  TensorImpl* param;
  TensorImpl* grad;
  std::array<TensorImpl*, kMaxFusedState> state{};  // those the kernel updates, in its slot order (null: absent)
  // The step counter, when the optimizer keeps one: advanced by one.
  Tensor* step = nullptr;
  TensorImpl* step_impl = nullptr;
};

// The tensors of one kernel call: params of one device, dtype and kind.
struct FusedLaunch {
  Device device;
  Dtype dtype = kFloat32;
  int kind = 0;  // optimizer-defined (SGD: a first step, whose momentum starts from the grad)
  std::vector<FusedTensor> tensors;
  std::vector<std::size_t> members;  // the position in `params` of each tensor
};

// Loads a param's impls (stage 0), their storages and shapes (stage 1)
// and its step counter's value (stage 2) into cache.
void prefetch_fused_param(const FusedParam& p, int stage);

// The kernel reads a param's grad and state with the param's layout: each
// must be a dense, contiguous tensor of the param's dtype, device and shape
// (impl::same_dense_layout).
[[noreturn]] void raise_bad_step_counter(const std::string& optimizer, const TensorImpl& step);
[[noreturn]] void raise_layout_mismatch(const std::string& optimizer, const TensorImpl& param,
                                        const TensorImpl& other, const char* what);

// Adds `delta` to the versions of what the kernel writes for `p`.
inline void bump_versions(const FusedParam& p, bool writes_grads, int64_t delta) {
  impl::add_to_version(*p.param, delta);
  if (writes_grads) impl::add_to_version(*p.grad, delta);
  for (const TensorImpl* state : p.state)
    if (state != nullptr) impl::add_to_version(*state, delta);
}

// The launches of a fused step: one FusedTensor per param, split by
// (device, dtype, kind_of(position in params)); the versions of what the
// kernel will write bumped, step counters advanced and each(position,
// counter value, tensor) called to fill the optimizer's own fields.
// A step that raises leaves no trace: what changed before a param failed
// its checks is undone. `state_names` name the state tensors in errors.
// `launches` is overwritten; its lists keep their storage from the last step.
template <class KindOf, class Each>
void build_fused_launches(const std::string& optimizer, const std::vector<FusedParam>& params,
                          const std::array<const char*, kMaxFusedState>& state_names, bool writes_grads,
                          KindOf kind_of, Each each, std::vector<FusedLaunch>& launches) {
  for (FusedLaunch& launch : launches) {
    launch.tensors.clear();
    launch.members.clear();
  }
  std::size_t used = 0;
  // Host counters advanced in the pass, with their old values; counters
  // that need a tensor op (on a device, or with history) are advanced after it.
  std::vector<std::pair<const FusedParam*, double>> advanced;
  std::vector<std::pair<std::size_t, std::size_t>> later;  // (launch, tensor)
  std::size_t i = 0;
  try {
    for (; i < params.size(); ++i) {
      for (int stage = 0; stage < 3; ++stage)
        if (i + (kPrefetchDistance >> stage) < params.size())
          prefetch_fused_param(params[i + (kPrefetchDistance >> stage)], stage);
      const FusedParam& p = params[i];
      const TensorImpl& param = *p.param;
      check_fused_param(optimizer, param);
      if (!impl::same_dense_layout(param, *p.grad)) raise_layout_mismatch(optimizer, param, *p.grad, "grad");
      FusedTensor t;
      t.param = impl::data(param);
      t.grad = impl::data(*p.grad);
      t.numel = numel_of(param.sizes);
      for (std::size_t s = 0; s < p.state.size(); ++s) {
        if (p.state[s] == nullptr) continue;
        if (!impl::same_dense_layout(param, *p.state[s]))
          raise_layout_mismatch(optimizer, param, *p.state[s], state_names[s]);
        t.state[s] = impl::data(*p.state[s]);
      }
      if (p.step_impl != nullptr && (!impl::is_dense(*p.step_impl) || numel_of(p.step_impl->sizes) != 1))
        raise_bad_step_counter(optimizer, *p.step_impl);
      const int kind = kind_of(i);
      const Device& device = impl::device(param);
      std::size_t b = used;
      while (b > 0 && !(launches[b - 1].dtype == param.dtype && launches[b - 1].kind == kind &&
                        launches[b - 1].device == device))
        --b;
      if (b == 0) {
        if (used == launches.size()) launches.emplace_back();
        FusedLaunch& fresh = launches[used++];
        fresh.device = device;
        fresh.dtype = param.dtype;
        fresh.kind = kind;
        fresh.tensors.reserve(params.size());
        fresh.members.reserve(params.size());
        b = used;
      }
      FusedLaunch& launch = launches[b - 1];
      // Changes start here, once the param has passed its checks.
      bump_versions(p, writes_grads, 1);
      double previous = 0;
      if (p.step_impl == nullptr) {
        each(i, 0.0, t);
      } else if (std::optional<double> step = advance_host_step(*p.step_impl, 1, &previous)) {
        advanced.emplace_back(&p, previous);
        each(i, *step, t);
      } else {
        later.emplace_back(b - 1, launch.tensors.size());
      }
      launch.tensors.push_back(t);
      launch.members.push_back(i);
    }
  } catch (...) {
    for (std::size_t j = 0; j < i; ++j) bump_versions(params[j], writes_grads, -1);
    for (const auto& [p, previous] : advanced) restore_host_step(*p->step_impl, previous);
    launches.erase(launches.begin() + static_cast<std::ptrdiff_t>(used), launches.end());
    throw;
  }
  launches.erase(launches.begin() + static_cast<std::ptrdiff_t>(used), launches.end());
  for (const auto& [b, j] : later) {
    const std::size_t k = launches[b].members[j];
    each(k, advance_step(*params[k].step, 1), launches[b].tensors[j]);
  }
}

}  // namespace descent::optim::detail
