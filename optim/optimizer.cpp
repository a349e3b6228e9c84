// The Optimizer base: param groups, defaults, hooks, zero_grad, step wrapper.
// state_dict / load_state_dict live in optim/state_dict.cpp.
#include "descent/optim/optimizer.h"
#include "optim/common.h"

#include <algorithm>
#include <atomic>
#include <set>

#include "descent/autograd/grad_mode.h"
#include "descent/tensor/ops.h"
#include "descent/warning.h"
#include "optim/state_cache.h"

namespace descent::optim {

ParamGroup::ParamGroup(std::vector<std::pair<std::string, Tensor>> named, Dict opts)
    : options(std::move(opts)) {
  param_names.emplace();
  for (auto& [name, tensor] : named) {
    param_names->push_back(name);
    params.push_back(tensor);
  }
}

// ---- state ----
namespace {
uint64_t fresh_generation() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

OptimizerState::OptimizerState() : generation_(fresh_generation()) {}
OptimizerState::OptimizerState(const OptimizerState& other)
    : extra(other.extra), entries_(other.entries_), index_(other.index_), generation_(fresh_generation()) {}
OptimizerState::OptimizerState(OptimizerState&& other) noexcept
    : extra(std::move(other.extra)),
      entries_(std::move(other.entries_)),
      index_(std::move(other.index_)),
      generation_(fresh_generation()) {
  other.generation_ = fresh_generation();
}
OptimizerState& OptimizerState::operator=(const OptimizerState& other) {
  if (this != &other) *this = OptimizerState(other);
  return *this;
}
OptimizerState& OptimizerState::operator=(OptimizerState&& other) noexcept {
  if (this == &other) return *this;
  extra = std::move(other.extra);
  entries_ = std::move(other.entries_);
  index_ = std::move(other.index_);
  generation_ = fresh_generation();
  other.generation_ = fresh_generation();
  return *this;
}

Dict& OptimizerState::operator[](const Tensor& param) {
  if (Dict* d = find(param)) return *d;
  index_[param.unsafe_get_impl()] = entries_.size();
  entries_.emplace_back(param, Dict());
  return entries_.back().second;
}
const Dict* OptimizerState::find(const Tensor& param) const {
  auto it = index_.find(param.unsafe_get_impl());
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}
Dict* OptimizerState::find(const Tensor& param) {
  return const_cast<Dict*>(static_cast<const OptimizerState*>(this)->find(param));
}
void OptimizerState::clear() {
  entries_.clear();
  index_.clear();
  extra = Dict();
  generation_ = fresh_generation();
}

// ---- hooks ----
void RemovableHandle::remove() {
  if (remover_ && *remover_) {
    (*remover_)();
    *remover_ = nullptr;
  }
}

namespace {
int64_t next_hook_id() {
  static int64_t id = 0;
  return id++;
}

template <typename H>
struct GlobalRegistry {
  std::vector<std::pair<int64_t, H>> hooks;
};
std::shared_ptr<GlobalRegistry<StepPreHook>>& global_pre() {
  static auto r = std::make_shared<GlobalRegistry<StepPreHook>>();
  return r;
}
std::shared_ptr<GlobalRegistry<StepPostHook>>& global_post() {
  static auto r = std::make_shared<GlobalRegistry<StepPostHook>>();
  return r;
}

// Adds a hook to an ordered registry and returns a handle that removes it by id.
// The handle holds a weak reference: removing after the optimizer died is a no-op.
template <typename R, typename H>
RemovableHandle add_hook(const std::shared_ptr<R>& registry, H hook, bool prepend) {
  int64_t id = next_hook_id();
  if (prepend) {
    registry->hooks.insert(registry->hooks.begin(), {id, std::move(hook)});
  } else {
    registry->hooks.emplace_back(id, std::move(hook));
  }
  std::weak_ptr<R> weak = registry;
  return RemovableHandle([weak, id] {
    if (auto r = weak.lock()) std::erase_if(r->hooks, [id](const auto& entry) { return entry.first == id; });
  });
}

// Hooks may remove themselves while running: iterate over a snapshot.
template <typename R>
auto snapshot(const std::shared_ptr<R>& registry) {
  std::vector<typename decltype(registry->hooks)::value_type::second_type> out;
  for (const auto& entry : registry->hooks) out.push_back(entry.second);
  return out;
}
}  // namespace

RemovableHandle register_optimizer_step_pre_hook(StepPreHook hook) {
  return add_hook(global_pre(), std::move(hook), false);
}
RemovableHandle register_optimizer_step_post_hook(StepPostHook hook) {
  return add_hook(global_post(), std::move(hook), false);
}

RemovableHandle Optimizer::register_step_pre_hook(StepPreHook hook) {
  return add_hook(step_pre_hooks_, std::move(hook), false);
}
RemovableHandle Optimizer::register_step_post_hook(StepPostHook hook) {
  return add_hook(step_post_hooks_, std::move(hook), false);
}
RemovableHandle Optimizer::register_state_dict_pre_hook(StateDictPreHook hook, bool prepend) {
  return add_hook(state_dict_pre_hooks_, std::move(hook), prepend);
}
RemovableHandle Optimizer::register_state_dict_post_hook(StateDictPostHook hook, bool prepend) {
  return add_hook(state_dict_post_hooks_, std::move(hook), prepend);
}
RemovableHandle Optimizer::register_load_state_dict_pre_hook(LoadStateDictPreHook hook, bool prepend) {
  return add_hook(load_pre_hooks_, std::move(hook), prepend);
}
RemovableHandle Optimizer::register_load_state_dict_post_hook(LoadStateDictPostHook hook, bool prepend) {
  return add_hook(load_post_hooks_, std::move(hook), prepend);
}

// ---- construction ----
Optimizer::Optimizer(std::string name, Dict defaults)
    : name_(std::move(name)),
      defaults_(std::move(defaults)),
      state_cache_(std::make_unique<detail::StateCache>()),
      step_pre_hooks_(std::make_shared<Registry<StepPreHook>>()),
      step_post_hooks_(std::make_shared<Registry<StepPostHook>>()),
      state_dict_pre_hooks_(std::make_shared<Registry<StateDictPreHook>>()),
      state_dict_post_hooks_(std::make_shared<Registry<StateDictPostHook>>()),
      load_pre_hooks_(std::make_shared<Registry<LoadStateDictPreHook>>()),
      load_post_hooks_(std::make_shared<Registry<LoadStateDictPostHook>>()) {}

Optimizer::~Optimizer() = default;

namespace {
Dict deepcopy_dict(const Dict& d) { return descent::deepcopy(Value(d)).to_dict(); }

// copy.deepcopy's memo for tensors: a tensor reached twice is copied once.
class TensorMemo {
 public:
  Tensor copy(const Tensor& t) {
    if (!t.defined()) return t;
    auto [it, fresh] = copies_.try_emplace(t.unsafe_get_impl());
    if (!fresh) return it->second;
    Tensor c = t.detach().clone();
    if (t.requires_grad()) c.requires_grad_(true);
    if (t.grad().defined()) c.set_grad(copy(t.grad()));
    copies_[t.unsafe_get_impl()] = c;
    return c;
  }

 private:
  std::unordered_map<const TensorImpl*, Tensor> copies_;
};
}  // namespace

Optimizer::Optimizer(const Optimizer& other) : Optimizer(other.name_, deepcopy_dict(other.defaults_)) {
  TensorMemo memo;
  param_groups_ = other.param_groups_;
  for (ParamGroup& group : param_groups_) {
    for (Tensor& p : group.params) p = memo.copy(p);
    group.options = deepcopy_dict(group.options);
  }
  for (const auto& [param, entry] : other.state_.entries()) state_[memo.copy(param)] = deepcopy_dict(entry);
  state_.extra = deepcopy_dict(other.state_.extra);
  grad_scale = memo.copy(other.grad_scale);
  found_inf = memo.copy(other.found_inf);
}

std::unique_ptr<Optimizer> Optimizer::deepcopy() const {
  raise<NotImplementedError>(name_, ": deepcopy() is not implemented for this optimizer class (override it: "
                                    "return std::make_unique<YourOptimizer>(*this);)");
}

void Optimizer::init_param_groups(Params params) {
  auto& groups = params.groups;
  if (groups.empty() || (groups.size() == 1 && groups[0].params.empty() && groups[0].options.empty()))
    raise<ValueError>(name_, ": optimizer got an empty parameter list");
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  for (std::size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    if (!p.defined())
      raise<TypeError>(name_, ": optimizer can only optimize Tensors, but one of the params (index ", i,
                       ") is an undefined Tensor");
    if (p.is_sparse()) raise<ValueError>(name_, ": can't optimize a sparse Tensor (parameter index ", i, ")");
  }
  if (group.param_names && group.param_names->size() != group.params.size())
    raise<ValueError>(name_,
                      ": all optimizer params should be with/without names. Some param names are missing (",
                      group.param_names->size(), " names for ", group.params.size(), " params)");
  const Value* diff = defaults_.find("differentiable");
  bool differentiable = diff && diff->is_bool() && diff->to_bool();
  if (!differentiable)
    for (std::size_t i = 0; i < group.params.size(); ++i)
      if (!group.params[i].is_leaf() && !group.params[i].retains_grad())
        raise<ValueError>(name_, ": can't optimize a non-leaf Tensor (parameter index ", i,
                          " has a grad_fn; pass a leaf tensor, e.g. t.detach().requires_grad_())");
  // A group may carry keys of its own (PyTorch keeps them; schedulers add
  // some), but one that nearly spells an option is a typo that would
  // silently leave the option at its default.
  std::vector<std::string> option_names;
  for (const auto& [key, value] : defaults_)
    if (const std::string* name = std::get_if<std::string>(&key)) option_names.push_back(*name);
  for (const auto& [key, value] : group.options) {
    const std::string* name = std::get_if<std::string>(&key);
    if (!name || defaults_.contains(*name)) continue;
    if (const std::string* meant = detail::near_miss(*name, option_names)) {
      std::string valid;
      for (const std::string& n : option_names) valid += (valid.empty() ? "" : ", ") + n;
      raise<ValueError>(name_, ": param group key '", *name, "' is not an option (did you mean '", *meant,
                        "'? its options: ", valid, ")");
    }
  }
  // Defaults fill what the group did not set; user values win.
  Dict merged = group.options;
  for (const auto& [key, value] : defaults_) merged.setdefault(key, value);
  group.options = std::move(merged);

  std::set<const TensorImpl*> seen;
  for (std::size_t i = 0; i < group.params.size(); ++i)
    if (!seen.insert(group.params[i].unsafe_get_impl()).second) {
      warn(name_ + ": optimizer contains a parameter group with duplicate parameters (parameter " +
           std::to_string(i) + " repeats an earlier one); a step updates it once, and this may become an error");
      break;
    }
  for (const ParamGroup& existing : param_groups_) {
    if (existing.param_names.has_value() != group.param_names.has_value())
      raise<ValueError>(name_,
                        ": all optimizer param groups should be with/without names. cannot add param group ",
                        group.param_names ? "with" : "without", " names to the optimizer");
    for (const Tensor& p : existing.params)
      if (seen.count(p.unsafe_get_impl()))
        raise<ValueError>(name_, ": some parameters appear in more than one parameter group");
  }
  param_groups_.push_back(std::move(group));
}

void Optimizer::zero_grad(bool set_to_none) {
  for (ParamGroup& group : param_groups_)
    for (Tensor& p : group.params) {
      if (!p.grad().defined()) continue;
      if (set_to_none) {
        p.mutable_grad() = Tensor();
        continue;
      }
      Tensor& g = p.mutable_grad();
      if (g.grad_fn()) {
        g.detach_();
      } else if (g.requires_grad()) {
        g.requires_grad_(false);
      }
      if (g.is_sparse()) {
        // Sparse zero_ keeps the tensor object and drops every entry.
        Shape value_shape{0};
        for (int64_t d = g.sparse_dim(); d < g.dim(); ++d) value_shape.push_back(g.sizes()[d]);
        g.copy_(sparse_coo_tensor(zeros({g.sparse_dim(), 0}, {.dtype = kInt64, .device = g.device()}),
                                  zeros(value_shape, {.dtype = g.dtype(), .device = g.device()}), g.sizes(),
                                  true));
      } else {
        g.zero_();
      }
    }
}

// ---- step ----
Tensor Optimizer::step(const Closure& closure) {
  StepArgs args{closure};
  // Keep the registries alive for the duration of the call, even if a hook
  // removes itself or the global registry is replaced.
  auto global_pre_hooks = global_pre();
  auto global_post_hooks = global_post();
  for (auto* registry : {&global_pre_hooks->hooks, &step_pre_hooks_->hooks}) {
    std::vector<StepPreHook> hooks;
    for (const auto& entry : *registry) hooks.push_back(entry.second);
    for (const auto& hook : hooks)
      if (auto replaced = hook(*this, args)) args = std::move(*replaced);
  }
  Tensor loss = step_impl(args.closure);
  ++step_count_;
  for (const auto& hook : snapshot(step_post_hooks_)) hook(*this, args);
  for (const auto& hook : snapshot(global_post_hooks)) hook(*this, args);
  return loss;
}

Tensor Optimizer::step_impl(const Closure& closure) {
  Tensor loss;
  if (closure) {
    autograd::EnableGradGuard enable;
    loss = closure();
  }
  // The update is recorded only for differentiable optimizers, whatever the caller's mode.
  const Value* diff = defaults_.find("differentiable");
  autograd::GradModeGuard mode(diff && diff->is_bool() && diff->to_bool());
  for (ParamGroup& group : param_groups_) step_group(group);
  return loss;
}

void Optimizer::setstate_group_defaults(ParamGroup&) {}
void Optimizer::upgrade_param_state(const ParamGroup&, const Tensor&, Dict&) {}
void Optimizer::check_loaded_group(const ParamGroup&, std::size_t, const OptimizerState&) const {}

// ---- repr ----
std::string Optimizer::repr() const {
  std::string out = name_ + " (";
  for (std::size_t i = 0; i < param_groups_.size(); ++i) {
    out += "\nParameter Group " + std::to_string(i);
    std::vector<std::pair<std::string, std::string>> lines;
    for (const auto& [key, value] : param_groups_[i].options)
      lines.emplace_back(std::get<std::string>(key), value.str());
    if (param_groups_[i].param_names) {
      std::vector<Value> names(param_groups_[i].param_names->begin(), param_groups_[i].param_names->end());
      lines.emplace_back("param_names", Value::list(std::move(names)).str());
    }
    std::sort(lines.begin(), lines.end());
    for (const auto& [key, text] : lines) out += "\n    " + key + ": " + text;
  }
  return out + (param_groups_.empty() ? ")" : "\n)");
}

}  // namespace descent::optim
