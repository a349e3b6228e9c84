#include "descent/optim/lr/cyclic_lr.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "optim/lr/cycle_momentum.h"

namespace descent::optim::lr {

CyclicLR::CyclicLR(Optimizer& optimizer, const PerGroup& base_lr, const PerGroup& max_lr,
                   CyclicLROptions options)
    : LRScheduler(optimizer) {
  std::vector<Value> formatted_base_lrs = format_param("base_lr", optimizer, base_lr);
  if (options.last_epoch == -1)
    for (std::size_t i = 0; i < formatted_base_lrs.size(); ++i)
      update_param_group_value(optimizer.param_groups()[i], "lr", formatted_base_lrs[i]);
  max_lrs = format_param("max_lr", optimizer, max_lr);

  const double up = options.step_size_up;
  const double down = options.step_size_down.value_or(up);
  total_size = up + down;
  step_ratio = divide(up, total_size, "CyclicLR: step_size_up + step_size_down");

  if (options.mode != "triangular" && options.mode != "triangular2" && options.mode != "exp_range" &&
      !options.scale_fn)
    raise<ValueError>("mode is invalid and scale_fn is None");
  mode = options.mode;
  gamma = options.gamma;
  scale_fn_custom_ = std::move(options.scale_fn);
  scale_mode = options.scale_mode;
  init_scale_fn();

  cycle_momentum = options.cycle_momentum;
  if (cycle_momentum) {
    use_beta1 = detail::uses_beta1(optimizer);
    base_momentums = format_param("base_momentum", optimizer, options.base_momentum);
    max_momentums = format_param("max_momentum", optimizer, options.max_momentum);
    if (options.last_epoch == -1)
      detail::init_group_momenta(optimizer, use_beta1, max_momentums, base_momentums);
  }

  attribute("max_lrs", &max_lrs);
  attribute("total_size", &total_size);
  attribute("step_ratio", &step_ratio);
  attribute("mode", &mode);
  attribute("gamma", &gamma);
  attribute("scale_mode", &scale_mode);
  attribute("cycle_momentum", &cycle_momentum);
  attribute("use_beta1", &use_beta1);
  attribute("base_momentums", &base_momentums);
  attribute("max_momentums", &max_momentums);
  // As in PyTorch, the initial step still sees base_lrs = initial_lr (which an
  // earlier scheduler may have set); the formatted base_lr applies from the next step.
  initialize(options.last_epoch);
  base_lrs = std::move(formatted_base_lrs);
}

void CyclicLR::init_scale_fn() {
  if (scale_fn_custom_) return;
  scale_mode = mode == "exp_range" ? "iterations" : "cycle";
}

double CyclicLR::scale_fn(double x) const {
  if (scale_fn_custom_) return scale_fn_custom_(x);
  if (mode == "triangular2") return 1 / std::pow(2.0, x - 1);
  if (mode == "exp_range") return std::pow(gamma, x);
  return 1.0;
}

std::vector<Value> CyclicLR::compute_lr() {
  const auto e = static_cast<double>(last_epoch);
  const double cycle = std::floor(1 + divide(e, total_size, "CyclicLR: step_size_up + step_size_down"));
  const double x = 1.0 + e / total_size - cycle;
  const double scale_factor = x <= step_ratio ? divide(x, step_ratio, "CyclicLR: step_size_up")
                                              : divide(x - 1, step_ratio - 1, "CyclicLR: step_size_down");
  const double arg = scale_mode == "cycle" ? cycle : e;

  std::vector<Value> lrs;
  for (std::size_t i = 0; i < std::min(base_lrs.size(), max_lrs.size()); ++i) {
    const LrValue base_height = (LrValue(max_lrs[i]) - LrValue(base_lrs[i])) * scale_factor;
    lrs.push_back((LrValue(base_lrs[i]) + base_height * scale_fn(arg)).to_value());
  }
  if (cycle_momentum) {
    auto& groups = param_groups();
    for (std::size_t i = 0; i < std::min(groups.size(), base_momentums.size()); ++i) {
      const LrValue base_height = (LrValue(max_momentums[i]) - LrValue(base_momentums[i])) * scale_factor;
      detail::set_momentum(groups[i], use_beta1,
                           (LrValue(max_momentums[i]) - base_height * scale_fn(arg)).to_value());
    }
  }
  return lrs;
}

Dict CyclicLR::state_dict() const {
  Dict out = LRScheduler::state_dict();
  out.set("_scale_fn_custom", scale_fn_custom_.state());
  return out;
}

void CyclicLR::load_state_dict(const Dict& state) {
  LRScheduler::load_state_dict(state);
  if (const Value* custom = state.find("_scale_fn_custom")) scale_fn_custom_.load_state(*custom);
  init_scale_fn();
}

}  // namespace descent::optim::lr
