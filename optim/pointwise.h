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
// and may declare:
//   step_scalars(h, step)              what depends on the step alone (NAdam's μ_t,
//                                      ASGD's next η): computed once per distinct
//                                      step and passed to tensor_scalars and
//                                      after_update as a last argument
//   has_step = false                   no `step` counter in the state (SGD)
//   kFusedStepIsFloat32                fused=True keeps `step` in float32 (Adam)
//   kComplexAsIs                       complex params are updated as complex
//                                      tensors, not their real views (SGD)
//   sparse_error                       the message for a sparse grad
//   update_differentiable(...)         the forloop's op sequence under
//                                      differentiable=True, when PyTorch's differs
// A math with a kFirstStep flag starts its slots from the gradient: a param
// whose slot is absent (or None, in a loaded state) runs its first step with
// kFirstStep set, in a launch of its own.
// and, if it takes sparse gradients in the pointwise driver (Adagrad):
//   check_sparse(h)                    raises where the options exclude sparse grads
//   sparse_update(h, step, p, g, s)    the forloop's update of param p with sparse
//                                      grad g and state slots s (fused has none; a
//                                      foreach bucket holding a sparse grad runs the
//                                      forloop, as PyTorch's)
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "descent/optim/pointwise_optimizer.h"
#include "devices/optim_math/kernels.h"
#include "optim/common.h"
#include "optim/fused_launch.h"
#include "optim/kwargs.h"
#include "optim/pointwise_ops.h"
#include "optim/state_cache.h"

namespace descent::optim::detail {

// The parts most definitions share.
struct PointwiseDefinition {
  static constexpr std::array<const char*, 0> host_keys{};
  static constexpr bool has_step = true;
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
  template <class H, class StepValues>
  static void after_update(const H&, double, Tensor* const*, const StepValues&) {}
};

template <class D>
concept HasStepScalars = requires(const typename D::Hyper& h) { D::step_scalars(h, 1.0); };

// Values that depend on the step alone, kept for the last step value asked
// for: params usually share their step, so a step over many params
// computes them once.
template <class Values>
class StepMemo {
 public:
  template <class Compute>
  const Values& at(double step, Compute&& compute) {
    if (step_ != step) {
      values_ = compute(step);
      step_ = step;
    }
    return values_;
  }

 private:
  std::optional<double> step_;
  Values values_{};
};

template <class D>
struct StepScalarsOf {
  using type = std::array<double, 0>;
};
template <class D>
  requires HasStepScalars<D>
struct StepScalarsOf<D> {
  using type = decltype(D::step_scalars(std::declval<const typename D::Hyper&>(), 1.0));
};
template <class D>
using StepScalars = StepMemo<typename StepScalarsOf<D>::type>;

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
  static constexpr std::size_t kFirstSlot = D::has_step ? 1 : 0;  // state key index of slot 0
  static constexpr bool kStartsFromGrad = requires { M::kFirstStep; };
  static constexpr bool kAsReal = !requires { D::kComplexAsIs; };
  static_assert(kSlots <= kMaxFusedState && kFirstSlot + kSlots + kHost <= StateCache::kMaxKeys,
                "the optimizer declares more state than a fused launch and the state cache hold: raise "
                "kMaxFusedState (backend.h)");

 public:
  PointwiseStep(Optimizer& optimizer, StateCache& cache, ParamGroup& group)
      : opt_(optimizer), cache_(cache), group_(group), h_(D::read(group)), flags_(D::flags(h_)) {}

  void run() {
    std::string sparse_error = std::string(D::name) + " does not support sparse gradients";
    if constexpr (requires { D::sparse_error; }) sparse_error = D::sparse_error;
    if constexpr (TakesSparseGrads<D>) sparse_error.clear();
    std::vector<ParamRef>& params = cache_.step_buffers().params;
    params_with_grad(opt_, group_, sparse_error, params);
    if (params.empty()) return;
    // A param listed twice in its group (the constructor warned) is updated once.
    if (cache_.has_duplicates(group_index(opt_, group_), group_.params)) params = first_occurrences(params);
    check_scalars_fit(params);
    bool sparse = false;
    for (const ParamRef& r : params) sparse = sparse || r.grad->is_sparse();
    const bool capturable = group_.contains("capturable") && get_bool(group_, "capturable");
    if (capturable)
      raise<RuntimeError>(opt_.name(),
                          ": If capturable=True, params and state_steps must be on supported devices: ['cuda']; "
                          "CPU tensors cannot be captured");
    Implementation impl = choose_implementation(group_);
    explicitly_fused_ = impl == Implementation::Fused;
    const bool unset = !get_optional_bool(group_, "foreach") && !get_optional_bool(group_, "fused");
    if (unset && default_to_fused(opt_, group_, params)) {
      impl = Implementation::Fused;
    } else if (unset && default_to_foreach(group_, params) && !tensor_lr_keeps_forloop()) {
      impl = Implementation::ForEach;
    }
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
    first_.assign(params.size(), false);
    try {
      const std::vector<StateCache::Tensors>& state = resolve_state(params, impl == Implementation::Fused);
      if (impl == Implementation::Fused) return fused(params, state);
      if (impl == Implementation::ForEach && sparse) return foreach_with_sparse(params, state);
      if (impl == Implementation::ForEach) return foreach(params, state);
      forloop(params, state);
    } catch (...) {
      forget_new_slots(params);
      throw;
    }
  }

 private:
  static std::vector<ParamRef> first_occurrences(const std::vector<ParamRef>& params) {
    std::vector<ParamRef> out;
    std::set<const TensorImpl*> seen;
    for (const ParamRef& r : params)
      if (seen.insert(r.param_impl).second) out.push_back(r);
    return out;
  }

  // float32 and narrower params compute in float: as PyTorch's ops do, a
  // step whose lr or derived scalars overflow float raises instead of
  // writing infinities (before anything changes).
  void check_scalars_fit(const std::vector<ParamRef>& params) const {
    const TensorImpl* narrow = nullptr;
    for (const ParamRef& r : params)
      if (r.param_impl->dtype != kFloat64 && r.param_impl->dtype != kComplex128) {
        narrow = r.param_impl;
        break;
      }
    if (narrow == nullptr) return;
    auto check = [&](double v) {
      if (std::isfinite(v) && std::abs(v) > static_cast<double>(std::numeric_limits<float>::max()))
        raise<RuntimeError>(opt_.name(), ": value cannot be converted to type float without overflow (", v,
                            ", from the group's options, for a ", to_string(narrow->dtype), " parameter)");
    };
    const Value& lr = group_.at("lr");
    if (lr.is_number() || lr.is_tensor()) check(lr.to_double());
    for (double v : D::scalars(h_)) check(v);
  }

  bool tensor_lr_keeps_forloop() const {
    if constexpr (requires { D::kForeachNeedsCapturableTensorLr; })
      return group_.at("lr").is_tensor() && !get_bool(group_, "capturable");
    return false;
  }

  bool slot_active(std::size_t k) const { return optim_math::Flags{flags_}.has(M::kSlotFlags[k]); }

  const std::vector<StateCache::Tensors>& resolve_state(const std::vector<ParamRef>& params, bool fused) {
    std::vector<std::string> keys;
    if constexpr (D::has_step) keys.emplace_back("step");
    for (std::size_t k = 0; k < kSlots; ++k)
      if (slot_active(k)) keys.emplace_back(D::slot_keys[k]);
    for (const char* key : D::host_keys) keys.emplace_back(key);
    // A stateless configuration (SGD without momentum) keeps no state at all.
    if (keys.empty()) return cache_.no_state(params.size());
    auto init = [&](Dict& st, std::size_t i) {
      const Tensor& param = *params[i].param;
      if constexpr (kStartsFromGrad) {
        for (std::size_t k = 0; k < kSlots; ++k) {
          if (!slot_active(k)) continue;
          const Value* slot = st.find(D::slot_keys[k]);
          if (slot && !slot->is_none()) continue;
          if (fused) check_fused_param(opt_.name(), *params[i].param_impl);
          st.set(D::slot_keys[k], D::init_slot(k, h_, param, *params[i].grad));
          first_[i] = true;
        }
        return;
      }
      if (!st.empty()) return;
      // Checked here, as PyTorch does: a param is checked once, when its state starts.
      if (fused) check_fused_param(opt_.name(), *params[i].param_impl);
      bool float32_step = false;
      if constexpr (requires { D::kFusedStepIsFloat32; }) float32_step = fused && explicitly_fused_;
      st.set("step", new_step_counter(param, float32_step));
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
    const std::vector<StateCache::Tensors>& state =
        cache_.resolve(opt_.state(), group_index(opt_, group_), params, keys, init);
    // Slots like the param, the counter and host scalars one element each:
    // checked for every param before any changes (a loaded state is
    // untrusted). The fused launch builder checks its own.
    if (fused) return state;
    std::vector<StateShape> shapes(keys.size(), StateShape::Scalar);
    for (std::size_t j = kFirstSlot; j < keys.size() - kHost; ++j) shapes[j] = StateShape::LikeParam;
    check_state(opt_.name(), params, state, keys, shapes);
    if constexpr (requires { D::update_differentiable; })
      if (get_bool(group_, "differentiable"))
        for (const StateCache::Tensors& t : state)
          if (t.tensor[0]->requires_grad())
            raise<RuntimeError>(opt_.name(), ": `requires_grad` is not supported for `step` in differentiable mode");
    return state;
  }

  // A step that raised leaves no slot it started (it would hold no value).
  void forget_new_slots(const std::vector<ParamRef>& params) {
    if constexpr (kStartsFromGrad)
      for (std::size_t i = 0; i < params.size(); ++i)
        if (first_[i])
          for (std::size_t k = 0; k < kSlots; ++k)
            if (slot_active(k)) opt_.state()[*params[i].param].erase(D::slot_keys[k]);
  }

  unsigned flags_of(std::size_t i) const {
    if constexpr (kStartsFromGrad)
      if (first_[i]) return flags_ | M::kFirstStep;
    return flags_;
  }

  // The step counter's new value, or 0 without one.
  static double advance(const StateCache::Tensors& t) {
    if constexpr (D::has_step) return advance_step(*t.tensor[0], 1);
    return 0.0;
  }

  Tensor view(const Tensor& t) const { return kAsReal ? as_real(t) : t; }

  // The state tensors of one param in kernel slot order (inactive slots
  // undefined), and its host scalars.
  std::array<Tensor*, kSlots> slots_of(const StateCache::Tensors& t) const {
    std::array<Tensor*, kSlots> out{};
    std::size_t next = kFirstSlot;
    for (std::size_t k = 0; k < kSlots; ++k)
      if (slot_active(k)) out[k] = t.tensor[next++];
    return out;
  }
  std::array<Tensor*, kHost> host_of(const StateCache::Tensors& t) const {
    std::array<Tensor*, kHost> out{};
    std::size_t first = kFirstSlot;
    for (std::size_t k = 0; k < kSlots; ++k) first += slot_active(k) ? 1 : 0;
    for (std::size_t k = 0; k < kHost; ++k) out[k] = t.tensor[first + k];
    return out;
  }

  // Without host scalars they depend on the step only: params sharing a
  // step (the usual case) compute them once.
  std::array<double, M::kTensorScalars> tensor_scalars(double step, std::array<Tensor*, kHost>& host) {
    if constexpr (kHost == 0)
      return tensor_scalars_memo_.at(step, [&](double s) { return D::tensor_scalars(h_, s, host.data()); });
    return tensor_scalars_of(h_, step, host.data(), step_scalars_);
  }

  static std::array<double, M::kTensorScalars> tensor_scalars_of(const Hyper& h, double step, Tensor* const* host,
                                                                 StepScalars<D>& memo) {
    if constexpr (HasStepScalars<D>)
      return D::tensor_scalars(h, step, host, at_step(h, step, memo));
    else
      return D::tensor_scalars(h, step, host);
  }
  static void after_update_of(const Hyper& h, double step, Tensor* const* host, StepScalars<D>& memo) {
    if constexpr (HasStepScalars<D>)
      D::after_update(h, step, host, at_step(h, step, memo));
    else
      D::after_update(h, step, host);
  }
  static const auto& at_step(const Hyper& h, double step, StepScalars<D>& memo) {
    return memo.at(step, [&](double s) { return D::step_scalars(h, s); });
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
    std::vector<bool> loop_first, bulk_first;
    for (const auto& bucket : buckets(items)) {
      bool sparse = false;
      for (std::size_t i : bucket) sparse = sparse || params[i].grad->is_sparse();
      for (std::size_t i : bucket) {
        (sparse ? loop_params : bulk_params).push_back(params[i]);
        (sparse ? loop_state : bulk_state).push_back(state[i]);
        (sparse ? loop_first : bulk_first).push_back(first_[i]);
      }
    }
    // first_ is indexed like the params a pass gets.
    const std::vector<bool> all_first = first_;
    try {
      first_ = loop_first;
      forloop(loop_params, loop_state);
      first_ = bulk_first;
      if (!bulk_params.empty()) foreach(bulk_params, bulk_state);
    } catch (...) {
      first_ = all_first;
      throw;
    }
    first_ = all_first;
  }

  void forloop(const std::vector<ParamRef>& params, const std::vector<StateCache::Tensors>& state) {
    const auto scalars = D::scalars(h_);
    const bool differentiable = get_bool(group_, "differentiable");
    for (std::size_t i = 0; i < params.size(); ++i) {
      unsigned flags = flags_of(i);
      Tensor grad = *params[i].grad;
      if constexpr (TakesSparseGrads<D>)
        if (grad.is_sparse()) {
          const double step = advance(state[i]);
          D::sparse_update(h_, step, *params[i].param, grad, slots_of(state[i]).data());
          continue;
        }
      Tensor param = *params[i].param;
      if constexpr (requires { M::kWeightDecayBeforeRealView; })
        if (grad.is_complex()) {
          // PyTorch's forloop negates and decays the complex gradient before
          // viewing it as real: a complex multiply-add, not an fma.
          if (flags & M::kMaximize) grad = neg(grad);
          flags &= ~M::kMaximize;
          bool decoupled = false;
          if constexpr (requires { M::kDecoupled; }) decoupled = (flags & M::kDecoupled) != 0;
          if ((flags & M::kWeightDecay) && !decoupled) {
            grad = grad.add(param, scalars[M::weight_decay]);
            flags &= ~M::kWeightDecay;
          }
        }
      grad = view(grad);
      param = view(param);
      std::array<Tensor, kSlots + 1> slots{};
      const auto slot_tensors = slots_of(state[i]);
      for (std::size_t k = 0; k < kSlots; ++k)
        if (slot_tensors[k]) slots[k] = view(*slot_tensors[k]);
      auto host = host_of(state[i]);
      const double step = advance(state[i]);
      if constexpr (requires { D::update_differentiable; })
        if (differentiable) {
          D::update_differentiable(h_, optim_math::Flags{flags}, scalars, *state[i].tensor[0], param, grad,
                                   slots.data());
          continue;
        }
      const auto per_tensor = tensor_scalars(step, host);
      M::update(optim_math::Flags{flags}, scalars, per_tensor, param, grad, slots.data());
      after_update_of(h_, step, host.data(), step_scalars_);
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
    StepScalars<D> step_scalars;  // of h, which may differ from h_
    for (const auto& device_bucket : buckets(items))
      for (const std::vector<std::size_t>& bucket : split_by_flags(device_bucket)) {
        const unsigned flags = flags_of(bucket.front());
        TensorList param_list, grads;
        std::array<TensorList, kSlots + 1> slots{};
        std::array<ScalarList, M::kTensorScalars> per_tensor{};
        std::vector<double> steps;
        for (std::size_t i : bucket) {
          param_list.push_back(view(*params[i].param));
          grads.push_back(view(*params[i].grad));
          const auto slot_tensors = slots_of(state[i]);
          for (std::size_t k = 0; k < kSlots; ++k)
            slots[k].push_back(slot_tensors[k] ? view(*slot_tensors[k]) : Tensor());
          steps.push_back(advance(state[i]));
        }
        for (std::size_t j = 0; j < bucket.size(); ++j) {
          auto host = host_of(state[bucket[j]]);
          const auto values = tensor_scalars_of(h, steps[j], host.data(), step_scalars);
          for (std::size_t s = 0; s < values.size(); ++s) per_tensor[s].push_back(values[s]);
        }
        if constexpr (HasForeachUpdate<M, decltype(scalars), decltype(per_tensor)>)
          M::update_foreach(optim_math::Flags{flags}, scalars, per_tensor, param_list, grads, slots.data());
        else
          M::update(optim_math::Flags{flags}, scalars, per_tensor, param_list, grads, slots.data());
        for (std::size_t j = 0; j < bucket.size(); ++j) {
          auto host = host_of(state[bucket[j]]);
          if constexpr (requires { D::after_update_foreach(h, Tensor(), host.data()); })
            D::after_update_foreach(h, *state[bucket[j]].tensor[0], host.data());
          else
            after_update_of(h, steps[j], host.data(), step_scalars);
        }
      }
  }

  // The positions of a device bucket split by their flag mask (a first step
  // runs apart), in order.
  std::vector<std::vector<std::size_t>> split_by_flags(const std::vector<std::size_t>& bucket) const {
    std::vector<std::vector<std::size_t>> out;
    std::vector<unsigned> masks;
    for (std::size_t i : bucket) {
      std::size_t b = 0;
      while (b < masks.size() && masks[b] != flags_of(i)) ++b;
      if (b == masks.size()) {
        masks.push_back(flags_of(i));
        out.emplace_back();
      }
      out[b].push_back(i);
    }
    return out;
  }

  void fused(const std::vector<ParamRef>& params, const std::vector<StateCache::Tensors>& state) {
    StateCache::StepBuffers& buffers = cache_.step_buffers();
    std::vector<FusedParam>& fused = buffers.fused;
    fused.clear();
    fused.reserve(params.size());
    std::array<const char*, kMaxFusedState> names{};
    for (std::size_t k = 0; k < kSlots; ++k) names[k] = D::slot_keys[k];
    for (std::size_t i = 0; i < params.size(); ++i) {
      FusedParam f{params[i].param_impl, params[i].grad_impl, {}};
      if constexpr (D::has_step) {
        f.step = state[i].tensor[0];
        f.step_impl = state[i].impl[0];
      }
      std::size_t next = kFirstSlot;
      for (std::size_t k = 0; k < kSlots; ++k)
        if (slot_active(k)) f.state[k] = state[i].impl[next++];
      fused.push_back(f);
    }
    std::vector<double>& steps = buffers.steps;
    steps.assign(params.size(), 0.0);
    auto each = [&](std::size_t i, double step, FusedTensor&) { steps[i] = step; };
    // A launch's kind is its flag mask.
    auto kind_of = [&](std::size_t i) { return static_cast<int>(flags_of(i)); };
    FusedPointwiseArgs args;
    args.kernel = optim_math::kernel_id<M>();
    const auto scalars = D::scalars(h_);
    for (std::size_t s = 0; s < scalars.size(); ++s) args.scalars[s] = scalars[s];
    std::vector<FusedLaunch>& launches = buffers.launches;
    build_fused_launches(opt_.name(), fused, names, opt_.grad_scale.defined(), kind_of, each, launches);
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
      args.flags = static_cast<unsigned>(launch.kind);
      backend_for(launch.device.type).fused_pointwise(launch.dtype, launch.tensors, args);
    }
    if constexpr (kHost > 0)
      for (std::size_t i = 0; i < params.size(); ++i) {
        auto host = host_of(state[i]);
        after_update_of(h_, steps[i], host.data(), step_scalars_);
      }
  }

  Optimizer& opt_;
  StateCache& cache_;
  ParamGroup& group_;
  const Hyper h_;
  const unsigned flags_;
  bool explicitly_fused_ = false;
  std::vector<bool> first_;  // params whose slots start from their grad this step
  StepScalars<D> step_scalars_;
  StepMemo<std::array<double, M::kTensorScalars>> tensor_scalars_memo_;  // without host scalars
};

template <class D>
void pointwise_step(Optimizer& optimizer, StateCache& cache, ParamGroup& group) {
  PointwiseStep<D>(optimizer, cache, group).run();
}

// A loaded group's options through the constructor's validation: every
// declared option present, of its kind, and valid.
template <class Options, auto Validate>
void validate_group_options(const std::string& optimizer, const Dict& options) {
  std::apply(
      [&](const auto&... f) {
        ((options.contains(f.name) ? void()
                                   : raise<ValueError>("the option '", f.name,
                                                       "' is missing (a state dict of another optimizer?)")),
         ...);
      },
      Options::fields());
  Kwargs kw(optimizer, options);
  Options o;
  std::apply([&](const auto&... f) { (kw.read(f.name, o.*(f.member)), ...); }, Options::fields());
  if constexpr (std::is_invocable_v<decltype(Validate), const Options&>)
    Validate(o);
  else
    Validate(optimizer, o);
}

// The state a param of this group holds once started, from the definition:
// every slot is like the param, whatever its dims.
template <class D>
std::vector<PointwiseOptimizer::StateEntry> state_entries(const ParamGroup& group, const Tensor&) {
  using M = typename D::Math;
  const optim_math::Flags flags{D::flags(D::read(group))};
  std::vector<PointwiseOptimizer::StateEntry> entries;
  if constexpr (D::has_step) entries.push_back({"step", StateShape::Scalar, true});
  for (std::size_t k = 0; k < M::kSlots; ++k)
    if (flags.has(M::kSlotFlags[k]))
      entries.push_back({D::slot_keys[k], StateShape::LikeParam, !requires { M::kFirstStep; }});
  for (const char* key : D::host_keys) entries.push_back({key, StateShape::Scalar, true});
  return entries;
}

// What PointwiseOptimizer keeps of a definition, its options and their validation.
template <class D, class Options, auto Validate>
PointwiseOptimizer::Declaration declaration() {
  return {&validate_group_options<Options, Validate>, &state_entries<D>, options_dict(Options{})};
}

}  // namespace descent::optim::detail
