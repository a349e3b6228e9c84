#pragma once
// descent::optim::Optimizer — torch.optim.Optimizer: param groups with
// defaults, per-parameter state, zero_grad, step with hooks, state_dict and
// load_state_dict. Subclasses supply their defaults and the per-group update.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "descent/optim/value.h"
#include "descent/tensor/tensor.h"

namespace descent::optim {

namespace detail {
class StateCache;
}

/// One parameter group: tensors, optional names, and options by name. A group
/// built by the user holds only the options it sets; add_param_group fills the
/// rest from the optimizer's defaults (so "unset" and "set to the default
/// value" stay distinct until then).
struct ParamGroup {
  std::vector<Tensor> params;
  std::optional<std::vector<std::string>> param_names;
  Dict options;

  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> params, Dict options = {})
      : params(std::move(params)), options(std::move(options)) {}
  // Named parameters, as model.named_parameters().
  ParamGroup(std::vector<std::pair<std::string, Tensor>> named, Dict options = {});

  Value& operator[](const std::string& key) { return options[key]; }
  const Value& at(const std::string& key) const { return options.at(key); }
  bool contains(const std::string& key) const { return options.contains(key); }
  // Convenience for the most read option: lr as a double (a tensor lr is read by value).
  double lr() const { return options.at("lr").to_double(); }
};

/// What an optimizer constructor accepts, as PyTorch's `params` argument: a
/// list of tensors, a list of (name, tensor) pairs, or a list of param groups.
struct Params {
  std::vector<ParamGroup> groups;
  Params(std::vector<Tensor> tensors) : groups{ParamGroup(std::move(tensors))} {}
  Params(std::initializer_list<Tensor> tensors) : Params(std::vector<Tensor>(tensors)) {}
  Params(std::vector<std::pair<std::string, Tensor>> named) : groups{ParamGroup(std::move(named))} {}
  Params(std::vector<ParamGroup> param_groups) : groups(std::move(param_groups)) {}
  Params(std::initializer_list<ParamGroup> param_groups) : groups(param_groups) {}
};

/// Per-parameter state, keyed by parameter identity (insertion ordered).
/// Keys that are not parameters (e.g. strings a hook inserted) live in `extra`.
class OptimizerState {
 public:
  OptimizerState();
  OptimizerState(const OptimizerState& other);
  OptimizerState(OptimizerState&& other) noexcept;
  OptimizerState& operator=(const OptimizerState& other);
  OptimizerState& operator=(OptimizerState&& other) noexcept;

  // Accessing a missing parameter creates an empty dict, as Python's defaultdict.
  Dict& operator[](const Tensor& param);
  const Dict* find(const Tensor& param) const;
  Dict* find(const Tensor& param);
  bool contains(const Tensor& param) const { return find(param) != nullptr; }
  std::size_t size() const { return entries_.size(); }
  // A deque: references to a parameter's dict stay valid as entries are added.
  const std::deque<std::pair<Tensor, Dict>>& entries() const { return entries_; }
  Dict extra;
  void clear();
  // Changes whenever references to this state's dicts may have become
  // invalid (clear, assignment); never repeats, across all instances.
  uint64_t generation() const { return generation_; }

 private:
  std::deque<std::pair<Tensor, Dict>> entries_;
  std::unordered_map<const TensorImpl*, std::size_t> index_;
  uint64_t generation_;
};

/// A removable hook registration (torch.utils.hooks.RemovableHandle).
class RemovableHandle {
 public:
  RemovableHandle() = default;
  explicit RemovableHandle(std::function<void()> remover)
      : remover_(std::make_shared<std::function<void()>>(std::move(remover))) {}
  // Idempotent.
  void remove();

 private:
  std::shared_ptr<std::function<void()>> remover_;
};

class Optimizer;

// Closure for step(): recomputes the loss (and gradients) and returns it.
using Closure = std::function<Tensor()>;
/// Positional arguments of step() as the hooks see them: the closure (may be empty).
struct StepArgs {
  Closure closure;
};
using StepPreHook = std::function<std::optional<StepArgs>(Optimizer&, const StepArgs&)>;
using StepPostHook = std::function<void(Optimizer&, const StepArgs&)>;
using StateDictPreHook = std::function<void(Optimizer&)>;
using StateDictPostHook = std::function<std::optional<Dict>(Optimizer&, Dict&)>;
using LoadStateDictPreHook = std::function<std::optional<Dict>(Optimizer&, Dict&)>;
using LoadStateDictPostHook = std::function<void(Optimizer&)>;

// Global step hooks apply to every optimizer instance.
RemovableHandle register_optimizer_step_pre_hook(StepPreHook hook);
RemovableHandle register_optimizer_step_post_hook(StepPostHook hook);

/// The base of every optimizer: param groups, per-parameter state, step/zero_grad, state_dict/load_state_dict and hooks, as torch.optim.Optimizer.
class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer& operator=(const Optimizer&) = delete;

  // Python's copy.deepcopy(optimizer): an optimizer of the same class over
  // copies of the params (values, requires_grad and grads cloned) with the
  // defaults, param groups and state deep-copied, the state keyed by the
  // copies. What PyTorch's pickled form leaves out is not copied
  // (optimizer-base.md §8): hooks, the step count, the state cache. The
  // built-in optimizers override it; a subclass that does not raises
  // NotImplementedError.
  virtual std::unique_ptr<Optimizer> deepcopy() const;

  // "Adam", "SGD": the class name PyTorch would print.
  const std::string& name() const { return name_; }
  const Dict& defaults() const { return defaults_; }
  Dict& defaults() { return defaults_; }
  std::vector<ParamGroup>& param_groups() { return param_groups_; }
  const std::vector<ParamGroup>& param_groups() const { return param_groups_; }
  OptimizerState& state() { return state_; }
  const OptimizerState& state() const { return state_; }

  void add_param_group(ParamGroup group);
  void zero_grad(bool set_to_none = true);
  // Runs the hooks and the update; returns the closure's loss (undefined without closure).
  Tensor step(const Closure& closure = nullptr);
  // Number of completed step() calls (read by LR schedulers to detect misuse).
  int64_t step_count() const { return step_count_; }

  Dict state_dict();
  void load_state_dict(const Dict& state_dict);

  RemovableHandle register_step_pre_hook(StepPreHook hook);
  RemovableHandle register_step_post_hook(StepPostHook hook);
  RemovableHandle register_state_dict_pre_hook(StateDictPreHook hook, bool prepend = false);
  RemovableHandle register_state_dict_post_hook(StateDictPostHook hook, bool prepend = false);
  RemovableHandle register_load_state_dict_pre_hook(LoadStateDictPreHook hook, bool prepend = false);
  RemovableHandle register_load_state_dict_post_hook(LoadStateDictPostHook hook, bool prepend = false);

  // AMP inputs for fused implementations (optimizer.grad_scale / found_inf).
  Tensor grad_scale;
  Tensor found_inf;

  // The exact PyTorch repr ("Adam (\nParameter Group 0\n    amsgrad: False ...").
  std::string repr() const;

 protected:
  // defaults: every option with its default value; groups: as the user gave them.
  Optimizer(std::string name, Dict defaults);
  // The deep copy deepcopy() returns (subclasses' copy constructors call it):
  // copying an optimizer object is copy.deepcopy, never a second view of
  // the same params.
  Optimizer(const Optimizer& other);
  // Called by subclass constructors after validating their options.
  void init_param_groups(Params params);
  // The update of one group; gradient recording is already set per `differentiable`.
  virtual void step_group(ParamGroup& group) = 0;
  // Optimizer-specific load fix-ups (PyTorch's __setstate__): restore options
  // that older state dicts lack, and convert legacy per-parameter state.
  virtual void setstate_group_defaults(ParamGroup& group);
  virtual void upgrade_param_state(const ParamGroup& group, const Tensor& param, Dict& state);
  // Checks a loaded group (after the fix-ups) and its params' loaded state
  // against what this optimizer needs; raises before the load changes anything.
  virtual void check_loaded_group(const ParamGroup& group, std::size_t group_index,
                                  const OptimizerState& state) const;
  // Runs the full step (closure + every group); LBFGS overrides it.
  virtual Tensor step_impl(const Closure& closure);
  // Where each param's state tensors sit in its dict, kept between steps.
  detail::StateCache& state_cache() { return *state_cache_; }

 private:
  std::string name_;
  Dict defaults_;
  std::vector<ParamGroup> param_groups_;
  OptimizerState state_;
  std::unique_ptr<detail::StateCache> state_cache_;
  int64_t step_count_ = 0;

  template <typename H>
  struct Registry {
    std::vector<std::pair<int64_t, H>> hooks;
  };
  std::shared_ptr<Registry<StepPreHook>> step_pre_hooks_;
  std::shared_ptr<Registry<StepPostHook>> step_post_hooks_;
  std::shared_ptr<Registry<StateDictPreHook>> state_dict_pre_hooks_;
  std::shared_ptr<Registry<StateDictPostHook>> state_dict_post_hooks_;
  std::shared_ptr<Registry<LoadStateDictPreHook>> load_pre_hooks_;
  std::shared_ptr<Registry<LoadStateDictPostHook>> load_post_hooks_;
};

}  // namespace descent::optim
