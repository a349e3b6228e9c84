#include "descent/optim/lr/reduce_lr_on_plateau.h"

#include <algorithm>
#include <limits>

#include "descent/warning.h"

namespace descent::optim::lr {

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options)
    : LRScheduler(optimizer) {
  if (options.factor >= 1.0) raise<ValueError>("Factor should be < 1.0.");
  factor = options.factor;
  const std::size_t groups = optimizer.param_groups().size();
  if (options.min_lr.is_list) {
    if (options.min_lr.values.size() != groups)
      raise<ValueError>("expected ", groups, " min_lrs, got ", options.min_lr.values.size());
    min_lrs = options.min_lr.values;
  } else {
    default_min_lr = options.min_lr.values.front();
    min_lrs.assign(groups, default_min_lr);
  }
  patience = options.patience;
  cooldown = options.cooldown;
  eps = options.eps;
  last_epoch = 0;
  last_lr_ = current_lrs();
  init_is_better(options.mode, options.threshold, options.threshold_mode);
  best = mode_worse;

  attribute("factor", &factor);
  attribute("default_min_lr", &default_min_lr);
  attribute("min_lrs", &min_lrs);
  attribute("patience", &patience);
  attribute("cooldown", &cooldown);
  attribute("eps", &eps);
  attribute("last_epoch", &last_epoch);
  attribute("_last_lr", &last_lr_);
  attribute("mode_worse", &mode_worse);
  attribute("mode", &mode);
  attribute("threshold", &threshold);
  attribute("threshold_mode", &threshold_mode);
  attribute("best", &best);
  attribute("cooldown_counter", &cooldown_counter);
  attribute("num_bad_epochs", &num_bad_epochs);
}

void ReduceLROnPlateau::init_is_better(const std::string& mode, double threshold,
                                       const std::string& threshold_mode) {
  if (mode != "min" && mode != "max") raise<ValueError>("mode ", mode, " is unknown!");
  if (threshold_mode != "rel" && threshold_mode != "abs")
    raise<ValueError>("threshold mode ", threshold_mode, " is unknown!");
  constexpr double inf = std::numeric_limits<double>::infinity();
  mode_worse = mode == "min" ? inf : -inf;
  this->mode = mode;
  this->threshold = threshold;
  this->threshold_mode = threshold_mode;
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  if (mode == "min" && threshold_mode == "rel") return a < best * (1.0 - threshold);
  if (mode == "min" && threshold_mode == "abs") return a < best - threshold;
  if (mode == "max" && threshold_mode == "rel") return a > best * (threshold + 1.0);
  return a > best + threshold;
}

void ReduceLROnPlateau::step(double metrics) { record(metrics, last_epoch + 1); }

void ReduceLROnPlateau::step(const Tensor& metrics) { record(Value(metrics).to_double(), last_epoch + 1); }

void ReduceLROnPlateau::step(double metrics, int64_t epoch) {
  warn(EPOCH_DEPRECATION_WARNING);
  record(metrics, epoch);
}

void ReduceLROnPlateau::step() {
  raise<TypeError>("ReduceLROnPlateau.step() missing 1 required positional argument: 'metrics'");
}

std::vector<Value> ReduceLROnPlateau::compute_lr() {
  raise<NotImplementedError>("ReduceLROnPlateau has no get_lr(): the lr only changes in step(metrics)");
}

void ReduceLROnPlateau::record(double current, int64_t epoch) {
  last_epoch = epoch;
  if (is_better(current, best)) {
    best = current;
    num_bad_epochs = 0;
  } else {
    num_bad_epochs += 1;
  }
  if (in_cooldown()) {
    cooldown_counter -= 1;
    num_bad_epochs = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs > patience) {
    reduce_lr();
    cooldown_counter = cooldown;
    num_bad_epochs = 0;
  }
  last_lr_ = current_lrs();
}

void ReduceLROnPlateau::reduce_lr() {
  auto& groups = param_groups();
  if (groups.size() != min_lrs.size()) {
    if (default_min_lr.is_none())
      raise<RuntimeError>(
          "The number of param groups in the `optimizer` (", groups.size(),
          ") differs from when `ReduceLROnPlateau` was initialized (", min_lrs.size(),
          "), usually due to a new param group being added to the optimizer. Please modify the "
          "`min_lrs` field to match the length of the `optimizer` param groups.");
    min_lrs.assign(groups.size(), default_min_lr);
  }
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const double old_lr = groups[i].at("lr").to_double();
    const double new_lr = std::max(old_lr * factor, min_lrs[i].to_double());
    if (old_lr - new_lr > eps) update_param_group_value(groups[i], "lr", Value(new_lr));
  }
}

void ReduceLROnPlateau::load_state_dict(const Dict& state) {
  LRScheduler::load_state_dict(state);
  init_is_better(mode, threshold, threshold_mode);
}

}  // namespace descent::optim::lr
