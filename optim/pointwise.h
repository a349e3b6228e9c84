#pragma once
// The step of a pointwise optimizer, written once for all of them: an
// optimizer supplies a definition (its math from devices/optim_math/, the
// keys of its state, how its group options become the kernel's flags and
// scalars) and pointwise_step runs it as the forloop, the foreach or the
// fused implementation. All three run the same update, so for float32 and
// float64 they agree bit for bit, except where PyTorch's own foreach takes
// another op sequence: the math then has a named `update_foreach`.
//
// A definition D provides:
//   using Math;                        the kernel (devices/optim_math/<name>.h)
//   name                               "Adamax", for messages
//   slot_keys[Math::kSlots]            the state key of each kernel slot
//   host_keys                          0-dim state tensors the host reads and
//                                      updates (ASGD's eta and mu, NAdam's mu_product)
//   struct Hyper; read(group)          the group's options, typed
//   flags(h), scalars(h)               the kernel's flag mask and per-group scalars
//   tensor_scalars(h, step, host)      the per-tensor scalars at this step (host:
//                                      the param's host_keys tensors, which it may update)
//   init_slot(k, h, param, grad)       a slot's first value (PointwiseDefinition: zeros)
//   init_host(k, h, param)             a host scalar's first value
//   after_update(h, step, host)        host scalar updates after the param's update
// and, if it takes sparse gradients (Adagrad):
//   check_sparse(h)                    raises where the options exclude sparse grads
//   sparse_update(h, step, p, g, s)    the forloop's update of param p with sparse
//                                      grad g and state slots s (fused has none; a
//                                      foreach bucket holding a sparse grad runs the
//                                      forloop, as PyTorch's)
#include <array>
#include <string>
#include <type_traits>
#include <vector>

#include "devices/optim_math/kernels.h"
#include "optim/common.h"
#include "optim/fused_launch.h"
#include "optim/pointwise_ops.h"
#include "optim/state_cache.h"

namespace descent::optim::detail {

// The parts most definitions share.
struct PointwiseDefinition {
  static constexpr std::array<const char*, 0> host_keys{};
  template <class H>
  static Tensor init_slot(std::size_t, const H&, const Tensor& param, const Tensor&) {
    return zeros_like(param);
  }
  template <class H>
  static Tensor init_host(std::size_t, const H&, const Tensor&) {
    return Tensor();
  }
  template <class H>
  static void after_update(const H&, double, Tensor* const*) {}
};

// A host scalar computed from the lr, in the lr's dtype when the lr is a
// tensor (as PyTorch's `lr / bias_correction` is then a tensor op), else in
// double. fn receives the lr as a double or as a 0-dim tensor.
template <class Fn>
double lr_expression(const Value& lr, Fn&& fn) {
  if (lr.is_tensor()) {
    Tensor value = fn(lr.to_tensor().detach());
    return value.item<double>();
  }
  return fn(lr.to_double());
}

// The state scalar dtype: float32, float64 under a float64 default dtype.
inline Dtype scalar_state_dtype() { return get_default_dtype() == kFloat64 ? kFloat64 : kFloat32; }

// A 0-dim host scalar of the state dtype holding `value`.
inline Tensor host_scalar(double value) { return full({}, value, {.dtype = scalar_state_dtype()}); }

template <class Math, class H, class P>
concept HasForeachUpdate = requires(optim_math::Flags f, const H& h, const P& p, TensorList& v, TensorList* s) {
  Math::update_foreach(f, h, p, v, v, s);
};

template <class D>
concept TakesSparseGrads = requires(const typename D::Hyper& h, Tensor& t, Tensor* const* s) {
  D::check_sparse(h);
  D::sparse_update(h, 1.0, t, t, s);
};

template <class D>
class PointwiseStep {
  using M = typename D::Math;
  using Hyper = typename D::Hyper;
  static constexpr std::size_t kHost = D::host_keys.size();
  static constexpr std::size_t kSlots = M::kSlots;

 public:
  PointwiseStep(Optimizer& optimizer, StateCache& cache, ParamGroup& group)
      : opt_(optimizer), cache_(cache), group_(group), h_(D::read(group)), flags_(D::flags(h_)) {}

  void run() {
    const std::string sparse_error =
        TakesSparseGrads<D> ? std::string() : std::string(D::name) + " does not support sparse gradients";
    std::vector<ParamRef> params = params_with_grad(opt_, group_, sparse_error);
    if (params.empty()) return;
    bool sparse = false;
    for (const ParamRef& r : params) sparse = sparse || r.grad->is_sparse();
    const bool capturable = group_.contains("capturable") && get_bool(group_, "capturable");
    if (capturable)
      raise<RuntimeError>(opt_.name(),
                          ": If capturable=True, params and state_steps must be on supported devices: ['cuda']; "
                          "CPU tensors cannot be captured");
    Implementation impl = choose_implementation(group_);
    const bool unset = !get_optional_bool(group_, "foreach") && !get_optional_bool(group_, "fused");
    if (unset && default_to_fused(opt_, group_, params)) impl = Implementation::Fused;
    if constexpr (TakesSparseGrads<D>)
      if (sparse) {
        if (impl == Implementation::Fused)
          raise<RuntimeError>(opt_.name(), ": `fused` does not support sparse grad or complex param");
        D::check_sparse(h_);
      }
    if (impl != Implementation::Fused) check_no_amp_inputs(opt_);
    if (impl == Implementation::Fused && opt_.found_inf.defined() && opt_.found_inf.item<double>() != 0) {
      // A skipped step (§9.2) leaves params, state and counters as they were.
      check_fused_params(opt_.name(), params);
      return;
    }
    // Every grad is checked before any param changes (the fused launch builder checks its own).
    if (impl != Implementation::Fused) check_grads_fit(opt_.name(), params);
    std::vector<StateCache::Tensors> state = resolve_state(params, impl == Implementation::Fused);
    if (impl == Implementation::Fused) return fused(params, state);
    if (impl == Implementation::ForEach && sparse) return foreach_with_sparse(params, state);
    if (impl == Implementation::ForEach) return foreach(params, state);
    forloop(params, state);
  }

 private:
  bool slot_active(std::size_t k) const { return optim_math::Flags{flags_}.has(M::kSlotFlags[k]); }

  std::vector<StateCache::Tensors> resolve_state(const std::vector<ParamRef>& params, bool fused) {
    std::vector<std::string> keys{"step"};
    for (std::size_t k = 0; k < kSlots; ++k)
      if (slot_active(k)) keys.emplace_back(D::slot_keys[k]);
    for (const char* key : D::host_keys) keys.emplace_back(key);
    auto init = [&](Dict& st, std::size_t i) {
      if (!st.empty()) return;
      const Tensor& param = *params[i].param;
      // Checked here, as PyTorch does: a param is checked once, when its state starts.
      if (fused) check_fused_param(opt_.name(), *params[i].param_impl);
      st.set("step", new_step_counter(param, false));
      // The keys in PyTorch's order (state dicts list them so).
      auto slots = [&] {
        for (std::size_t k = 0; k < kSlots; ++k)
          if (slot_active(k)) st.set(D::slot_keys[k], D::init_slot(k, h_, param, *params[i].grad));
      };
      auto host = [&] {
        for (std::size_t k = 0; k < kHost; ++k) st.set(D::host_keys[k], D::init_host(k, h_, param));
      };
      if constexpr (requires { D::host_keys_first; }) {
        host();
        slots();
      } else {
        slots();
        host();
      }
    };
    std::vector<StateCache::Tensors> state =
        cache_.resolve(opt_.state(), group_index(opt_, group_), params, keys, init);
    // Slots like the param, the counter and host scalars one element each:
    // checked for every param before any changes (a loaded state is
    // untrusted). The fused launch builder checks its own.
    if (fused) return state;
    std::vector<StateShape> shapes(keys.size(), StateShape::Scalar);
    for (std::size_t j = 1; j < keys.size() - kHost; ++j) shapes[j] = StateShape::LikeParam;
    check_state(opt_.name(), params, state, keys, shapes);
    return state;
  }

  // The state tensors of one param in kernel slot order (inactive slots
  // undefined), and its host scalars.
  std::array<Tensor*, kSlots> slots_of(const StateCache::Tensors& t) const {
    std::array<Tensor*, kSlots> out{};
    std::size_t next = 1;
    for (std::size_t k = 0; k < kSlots; ++k)
      if (slot_active(k)) out[k] = t.tensor[next++];
    return out;
  }
  std::array<Tensor*, kHost> host_of(const StateCache::Tensors& t) const {
    std::array<Tensor*, kHost> out{};
    std::size_t first = 1;
    for (std::size_t k = 0; k < kSlots; ++k) first += slot_active(k) ? 1 : 0;
    for (std::size_t k = 0; k < kHost; ++k) out[k] = t.tensor[first + k];
    return out;
  }

  std::array<double, M::kTensorScalars> tensor_scalars(double step, std::array<Tensor*, kHost>& host) const {
    return D::tensor_scalars(h_, step, host.data());
  }

  Hyper read_with_number_lr() const {
    ParamGroup copy;
    copy.options = group_.options;
    copy.options.set("lr", group_.at("lr").to_double());
    return D::read(copy);
  }

  // PyTorch's foreach runs the forloop for each (device, dtype) bucket that
  // holds a sparse grad.
  void foreach_with_sparse(const std::vector<ParamRef>& params, const std::vector<StateCache::Tensors>& state) {
    struct Item {
      Tensor param;
    };
    std::vector<Item> items;
    for (const ParamRef& r : params) items.push_back({*r.param});
    std::vector<ParamRef> loop_params, bulk_params;
    std::vector<StateCache::Tensors> loop_state, bulk_state;
    for (const auto& bucket : buckets(items)) {
      bool sparse = false;
      for (std::size_t i : bucket) sparse = sparse || params[i].grad->is_sparse();
      for (std::size_t i : bucket) {
        (sparse ? loop_params : bulk_params).push_back(params[i]);
        (sparse ? loop_state : bulk_state).push_back(state[i]);
      }
    }
    forloop(loop_params, loop_state);
    if (!bulk_params.empty()) foreach(bulk_params, bulk_state);
  }

  void forloop(const std::vector<ParamRef>& params, const std::vector<StateCache::Tensors>& state) {
    const auto scalars = D::scalars(h_);
    for (std::size_t i = 0; i < params.size(); ++i) {
      unsigned flags = flags_;
      Tensor grad = *params[i].grad;
      if constexpr (TakesSparseGrads<D>)
        if (grad.is_sparse()) {
          const double step = advance_step(*state[i].tensor[0], 1);
          D::sparse_update(h_, step, *params[i].param, grad, slots_of(state[i]).data());
          continue;
        }
      if constexpr (requires { M::kWeightDecayBeforeRealView; })
        if (grad.is_complex()) {
          // PyTorch's forloop negates and decays the complex gradient before
          // viewing it as real: a complex multiply-add, not an fma.
          if (flags & M::kMaximize) grad = neg(grad);
          if (flags & M::kWeightDecay) grad = grad.add(*params[i].param, scalars[M::weight_decay]);
          flags &= ~(M::kMaximize | M::kWeightDecay);
        }
      grad = as_real(grad);
      Tensor param = as_real(*params[i].param);
      std::array<Tensor, kSlots + 1> slots{};
      const auto slot_tensors = slots_of(state[i]);
      for (std::size_t k = 0; k < kSlots; ++k)
        if (slot_tensors[k]) slots[k] = as_real(*slot_tensors[k]);
      auto host = host_of(state[i]);
      const double step = advance_step(*state[i].tensor[0], 1);
      const auto per_tensor = tensor_scalars(step, host);
      M::update(optim_math::Flags{flags}, scalars, per_tensor, param, grad, slots.data());
      D::after_update(h_, step, host.data());
    }
  }

  void foreach(const std::vector<ParamRef>& params, const std::vector<StateCache::Tensors>& state) {
    struct Item {
      Tensor param;
    };
    std::vector<Item> items;
    items.reserve(params.size());
    for (const ParamRef& r : params) items.push_back({*r.param});
    // Some of PyTorch's foreach implementations read a tensor lr as a number.
    Hyper h = h_;
    if constexpr (requires { D::kForeachReadsLrAsNumber; })
      if (group_.at("lr").is_tensor()) h = read_with_number_lr();
    const auto scalars = D::scalars(h);
    for (const auto& bucket : buckets(items)) {
      TensorList param_list, grads;
      std::array<TensorList, kSlots + 1> slots{};
      std::array<ScalarList, M::kTensorScalars> per_tensor{};
      std::vector<double> steps;
      for (std::size_t i : bucket) {
        param_list.push_back(as_real(*params[i].param));
        grads.push_back(as_real(*params[i].grad));
        const auto slot_tensors = slots_of(state[i]);
        for (std::size_t k = 0; k < kSlots; ++k)
          slots[k].push_back(slot_tensors[k] ? as_real(*slot_tensors[k]) : Tensor());
        steps.push_back(advance_step(*state[i].tensor[0], 1));
      }
      for (std::size_t j = 0; j < bucket.size(); ++j) {
        auto host = host_of(state[bucket[j]]);
        const auto values = D::tensor_scalars(h, steps[j], host.data());
        for (std::size_t s = 0; s < values.size(); ++s) per_tensor[s].push_back(values[s]);
      }
      if constexpr (HasForeachUpdate<M, decltype(scalars), decltype(per_tensor)>)
        M::update_foreach(optim_math::Flags{flags_}, scalars, per_tensor, param_list, grads, slots.data());
      else
        M::update(optim_math::Flags{flags_}, scalars, per_tensor, param_list, grads, slots.data());
      for (std::size_t j = 0; j < bucket.size(); ++j) {
        auto host = host_of(state[bucket[j]]);
        if constexpr (requires { D::after_update_foreach(h, Tensor(), host.data()); })
          D::after_update_foreach(h, *state[bucket[j]].tensor[0], host.data());
        else
          D::after_update(h, steps[j], host.data());
      }
    }
  }

  void fused(const std::vector<ParamRef>& params, const std::vector<StateCache::Tensors>& state) {
    std::vector<FusedParam> fused;
    fused.reserve(params.size());
    std::array<const char*, kMaxFusedState> names{};
    for (std::size_t k = 0; k < kSlots; ++k) names[k] = D::slot_keys[k];
    for (std::size_t i = 0; i < params.size(); ++i) {
      FusedParam f{params[i].param_impl, params[i].grad_impl, {}, state[i].tensor[0], state[i].impl[0]};
      std::size_t next = 1;
      for (std::size_t k = 0; k < kSlots; ++k)
        if (slot_active(k)) f.state[k] = state[i].impl[next++];
      fused.push_back(f);
    }
    std::vector<double> steps(params.size());
    auto each = [&](std::size_t i, double step, FusedTensor&) { steps[i] = step; };
    auto one_kind = [](std::size_t) { return 0; };
    FusedPointwiseArgs args;
    args.kernel = optim_math::kernel_id<M>();
    args.flags = flags_;
    const auto scalars = D::scalars(h_);
    for (std::size_t s = 0; s < scalars.size(); ++s) args.scalars[s] = scalars[s];
    std::vector<FusedLaunch> launches =
        build_fused_launches(opt_.name(), fused, names, opt_.grad_scale.defined(), one_kind, each);
    // Only once every param passed its checks: per-tensor scalars may update
    // host state (NAdam's mu_product), which a failed step must not touch.
    for (FusedLaunch& launch : launches)
      for (std::size_t j = 0; j < launch.tensors.size(); ++j) {
        const std::size_t i = launch.members[j];
        auto host = host_of(state[i]);
        const auto values = tensor_scalars(steps[i], host);
        for (std::size_t s = 0; s < values.size(); ++s) launch.tensors[j].scalars[s] = values[s];
      }
    for (const FusedLaunch& launch : launches) {
      const FusedAmp amp(opt_, launch.device);
      args.amp = amp.kernel_inputs();
      backend_for(launch.device.type).fused_pointwise(launch.dtype, launch.tensors, args);
    }
    if constexpr (kHost > 0)
      for (std::size_t i = 0; i < params.size(); ++i) {
        auto host = host_of(state[i]);
        D::after_update(h_, steps[i], host.data());
      }
  }

  Optimizer& opt_;
  StateCache& cache_;
  ParamGroup& group_;
  const Hyper h_;
  const unsigned flags_;
};

template <class D>
void pointwise_step(Optimizer& optimizer, StateCache& cache, ParamGroup& group) {
  PointwiseStep<D>(optimizer, cache, group).run();
}

}  // namespace descent::optim::detail
