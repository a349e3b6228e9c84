#include "descent/optim/lr/lr_scheduler.h"

#include <cmath>

#include "descent/warning.h"

namespace descent::optim::lr {

const char* const EPOCH_DEPRECATION_WARNING =
    "`scheduler.step(epoch)` is deprecated: call `scheduler.step()` with no argument, once per "
    "epoch. Until it is removed, an explicit epoch jumps there through the scheduler's closed form "
    "where it has one, and otherwise recomputes from the current lr as `step()` does.";

namespace {

// Sets a flag for the lifetime of the guard, restoring false even when the body throws.
class FlagGuard {
 public:
  explicit FlagGuard(bool& flag) : flag_(flag) { flag_ = true; }
  ~FlagGuard() { flag_ = false; }
  FlagGuard(const FlagGuard&) = delete;
  FlagGuard& operator=(const FlagGuard&) = delete;

 private:
  bool& flag_;
};

Value to_value(const std::vector<Value>& values) { return Value::list(values); }

std::vector<Value> to_vector(const Value& value) { return value.to_list().items; }

}  // namespace

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(&optimizer) {}

void LRScheduler::initialize(int64_t last_epoch) {
  auto& groups = optimizer_->param_groups();
  if (last_epoch == -1) {
    for (ParamGroup& group : groups) {
      const Value& lr = group.at("lr");
      // A clone, never an alias: the group's lr tensor changes in place every step.
      group.options.setdefault("initial_lr", lr.is_tensor() ? Value(lr.to_tensor().clone()) : lr);
    }
  } else {
    for (std::size_t i = 0; i < groups.size(); ++i)
      if (!groups[i].contains("initial_lr"))
        raise<KeyError>(
            "param 'initial_lr' is not specified in param_groups[", i,
            "] when resuming scheduler with last_epoch >= 0.\n"
            "This typically happens when:\n"
            "1. You're trying to resume training from a checkpoint but haven't properly loaded the "
            "optimizer state\n"
            "2. You're using last_epoch >= 0 for a fresh training run (not recommended)");
  }
  base_lrs = param_groups_values(*optimizer_, "initial_lr");
  this->last_epoch = last_epoch;
  attribute("base_lrs", &base_lrs);
  attribute("last_epoch", &this->last_epoch);
  attribute("_step_count", &step_count_);
  attribute("_is_initial", &is_initial_);
  attribute("_get_lr_called_within_step", &get_lr_called_within_step_);
  attribute("_last_lr", &last_lr_);
  initial_step();
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  FlagGuard initial(is_initial_);
  step();
}

void LRScheduler::check_step_order() const {
  if (step_count_ == 1 && optimizer_->step_count() == 0)
    warn(
        "Detected call of `lr_scheduler.step()` before `optimizer.step()`: the first value of the "
        "learning rate schedule is skipped. Call `optimizer.step()` first, then "
        "`lr_scheduler.step()` (docs/schedulers.md#how-to-adjust-learning-rate).");
}

void LRScheduler::step() {
  check_step_order();
  ++step_count_;
  update_lr(std::nullopt);
}

void LRScheduler::step(double epoch) {
  if (epoch != std::floor(epoch))
    raise<ValueError>(name(), ".step: epoch must be a whole number, got ", format_double(epoch),
                      " (only CosineAnnealingWarmRestarts accepts fractional epochs)");
  check_step_order();
  ++step_count_;
  warn(EPOCH_DEPRECATION_WARNING);
  update_lr(static_cast<int64_t>(epoch));
}

std::vector<Value> LRScheduler::get_lr() {
  if (!get_lr_called_within_step_)
    warn("To get the last learning rate computed by the scheduler, please use `get_last_lr()`.");
  return compute_lr();
}

std::vector<Value> LRScheduler::compute_lr_within_step() {
  FlagGuard within(get_lr_called_within_step_);
  return compute_lr();
}

void LRScheduler::update_lr(std::optional<int64_t> epoch) {
  std::vector<Value> values;
  if (!epoch) {
    ++last_epoch;
    values = compute_lr_within_step();
  } else {
    last_epoch = *epoch;
    FlagGuard within(get_lr_called_within_step_);
    auto closed = closed_form_lr();
    values = closed ? std::move(*closed) : compute_lr();
  }
  write_lrs(values);
}

void LRScheduler::write_lrs(const std::vector<Value>& values) {
  auto& groups = optimizer_->param_groups();
  if (values.size() != groups.size())
    raise<ValueError>(name(), ": computed ", values.size(), " learning rates for ", groups.size(),
                      " param groups (were groups added after the scheduler was created?)");
  for (std::size_t i = 0; i < groups.size(); ++i) update_param_group_value(groups[i], "lr", values[i]);
  last_lr_ = current_lrs();
}

void LRScheduler::attribute(std::string name, AttributeRef ref) {
  attributes_.emplace_back(std::move(name), ref);
}

Dict LRScheduler::state_dict() const {
  Dict out;
  for (const auto& [key, ref] : attributes_) {
    // `name`, not `key`: clang before 16 cannot capture a structured binding.
    std::visit(
        [&out, &name = key](auto* field) {
          using T = std::remove_pointer_t<decltype(field)>;
          if constexpr (std::is_same_v<T, std::vector<Value>>) {
            out.set(name, to_value(*field));
          } else {
            out.set(name, Value(*field));
          }
        },
        ref);
  }
  return out;
}

void LRScheduler::load_state_dict(const Dict& state) {
  for (const auto& [key, ref] : attributes_) {
    const Value* v = state.find(key);
    if (v == nullptr) continue;
    std::visit(
        [&](auto* field) {
          using T = std::remove_pointer_t<decltype(field)>;
          if constexpr (std::is_same_v<T, int64_t>) {
            *field = v->to_int();
          } else if constexpr (std::is_same_v<T, double>) {
            *field = v->to_double();
          } else if constexpr (std::is_same_v<T, bool>) {
            *field = v->to_bool();
          } else if constexpr (std::is_same_v<T, std::string>) {
            *field = v->to_string_value();
          } else if constexpr (std::is_same_v<T, Value>) {
            *field = *v;
          } else {
            *field = to_vector(*v);
          }
        },
        ref);
  }
}

}  // namespace descent::optim::lr
