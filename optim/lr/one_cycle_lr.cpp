#include <cmath>
#include <numbers>
#include <utility>

#include "descent/optim/lr/cyclic_lr.h"
#include "optim/lr/cycle_momentum.h"

namespace descent::optim::lr {

namespace {

int64_t resolve_total_steps(const OneCycleLROptions& options) {
  if (options.total_steps) {
    if (*options.total_steps <= 0)
      raise<ValueError>("Expected positive integer total_steps, but got ", *options.total_steps);
    return *options.total_steps;
  }
  if (options.epochs && options.steps_per_epoch) {
    if (*options.epochs <= 0)
      raise<ValueError>("Expected positive integer epochs, but got ", *options.epochs);
    if (*options.steps_per_epoch <= 0)
      raise<ValueError>("Expected positive integer steps_per_epoch, but got ", *options.steps_per_epoch);
    return *options.epochs * *options.steps_per_epoch;
  }
  raise<ValueError>("You must define either total_steps OR (epochs AND steps_per_epoch)");
}

}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, const PerGroup& max_lr, OneCycleLROptions options)
    : LRScheduler(optimizer), total_steps(resolve_total_steps(options)) {
  const double p = options.pct_start;
  const auto n = static_cast<double>(total_steps);
  const double last = static_cast<double>(total_steps - 1);
  if (options.three_phase) {
    schedule_phases = {{p * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
                       {2 * p * n - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
                       {last, "initial_lr", "min_lr", "max_momentum", "max_momentum"}};
  } else {
    schedule_phases = {{p * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
                       {last, "max_lr", "min_lr", "base_momentum", "max_momentum"}};
  }
  if (!(p >= 0 && p <= 1))
    raise<ValueError>("Expected float between 0 and 1 pct_start, but got ", format_double(p));
  if (options.anneal_strategy != "cos" && options.anneal_strategy != "linear")
    raise<ValueError>("anneal_strategy must be one of 'cos' or 'linear', instead got ",
                      options.anneal_strategy);
  anneal_func_type = options.anneal_strategy;

  const std::vector<Value> max_lrs = format_param("max_lr", optimizer, max_lr);
  if (options.last_epoch == -1) {
    auto& groups = optimizer.param_groups();
    for (std::size_t i = 0; i < groups.size(); ++i) {
      const LrValue initial = LrValue(max_lrs[i]) / options.div_factor;
      groups[i]["initial_lr"] = initial.to_value();
      groups[i]["max_lr"] = max_lrs[i];
      groups[i]["min_lr"] = (initial / options.final_div_factor).to_value();
    }
  }

  cycle_momentum = options.cycle_momentum;
  if (cycle_momentum) {
    use_beta1 = detail::uses_beta1(optimizer);
    const auto max_momentums = format_param("max_momentum", optimizer, options.max_momentum);
    const auto base_momentums = format_param("base_momentum", optimizer, options.base_momentum);
    if (options.last_epoch == -1)
      detail::init_group_momenta(optimizer, use_beta1, max_momentums, base_momentums);
  }

  attribute("total_steps", &total_steps);
  attribute("_anneal_func_type", &anneal_func_type);
  attribute("cycle_momentum", &cycle_momentum);
  attribute("use_beta1", &use_beta1);
  initialize(options.last_epoch);
}

LrValue OneCycleLR::anneal(const LrValue& start, const LrValue& end, double pct) const {
  if (anneal_func_type == "cos") {
    const double cos_out = std::cos(std::numbers::pi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

std::vector<Value> OneCycleLR::compute_lr() {
  const int64_t step_num = last_epoch;
  if (step_num > total_steps)
    raise<ValueError>("Tried to step ", step_num, " times. The specified number of total steps is ",
                      total_steps);
  const auto step = static_cast<double>(step_num);
  std::vector<Value> lrs;
  for (ParamGroup& group : param_groups()) {
    double start_step = 0.0;
    for (std::size_t i = 0; i < schedule_phases.size(); ++i) {
      const Phase& phase = schedule_phases[i];
      if (step <= phase.end_step || i + 1 == schedule_phases.size()) {
        const double pct = divide(step - start_step, phase.end_step - start_step, "OneCycleLR: phase length");
        lrs.push_back(anneal(group.at(phase.start_lr), group.at(phase.end_lr), pct).to_value());
        if (cycle_momentum)
          detail::set_momentum(
              group, use_beta1,
              anneal(group.at(phase.start_momentum), group.at(phase.end_momentum), pct).to_value());
        break;
      }
      start_step = phase.end_step;
    }
  }
  return lrs;
}

Dict OneCycleLR::state_dict() const {
  Dict out = LRScheduler::state_dict();
  std::vector<Value> phases;
  for (const Phase& phase : schedule_phases)
    phases.emplace_back(Dict{{"end_step", phase.end_step},
                             {"start_lr", phase.start_lr},
                             {"end_lr", phase.end_lr},
                             {"start_momentum", phase.start_momentum},
                             {"end_momentum", phase.end_momentum}});
  out.set("_schedule_phases", Value::list(std::move(phases)));
  return out;
}

void OneCycleLR::load_state_dict(const Dict& state) {
  LRScheduler::load_state_dict(state);
  if (const Value* phases = state.find("_schedule_phases")) {
    schedule_phases.clear();
    for (const Value& phase : phases->to_list().items)
      schedule_phases.push_back({phase.at("end_step").to_double(), phase.at("start_lr").to_string_value(),
                                 phase.at("end_lr").to_string_value(),
                                 phase.at("start_momentum").to_string_value(),
                                 phase.at("end_momentum").to_string_value()});
  }
}

}  // namespace descent::optim::lr
