#include "descent/optim/lr/step_lr.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace descent::optim::lr {

namespace {

// lr * factor for every group (the recursive step of every scheduler here).
std::vector<Value> scale_current(std::vector<ParamGroup>& groups, double factor) {
  std::vector<Value> out;
  for (ParamGroup& group : groups) out.push_back((LrValue(group.at("lr")) * factor).to_value());
  return out;
}

std::vector<Value> scale_base(const std::vector<Value>& base_lrs, double factor) {
  std::vector<Value> out;
  for (const Value& base : base_lrs) out.push_back((LrValue(base) * factor).to_value());
  return out;
}

}  // namespace

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer), step_size(step_size), gamma(gamma) {
  attribute("step_size", &this->step_size);
  attribute("gamma", &this->gamma);
  initialize(last_epoch);
}

std::vector<Value> StepLR::compute_lr() {
  if (last_epoch == 0 || floor_mod(last_epoch, step_size, "StepLR: step_size") != 0) return current_lrs();
  return scale_current(param_groups(), gamma);
}

std::optional<std::vector<Value>> StepLR::closed_form_lr() {
  const auto k = static_cast<double>(floor_div(last_epoch, step_size, "StepLR: step_size"));
  return scale_base(base_lrs, std::pow(gamma, k));
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, const std::vector<int64_t>& milestones, double gamma,
                         int64_t last_epoch)
    : LRScheduler(optimizer), gamma(gamma) {
  for (int64_t m : milestones) ++this->milestones[m];
  attribute("gamma", &this->gamma);
  initialize(last_epoch);
}

std::vector<Value> MultiStepLR::compute_lr() {
  auto it = milestones.find(last_epoch);
  if (it == milestones.end()) return current_lrs();
  return scale_current(param_groups(), std::pow(gamma, static_cast<double>(it->second)));
}

std::optional<std::vector<Value>> MultiStepLR::closed_form_lr() {
  int64_t passed = 0;
  for (const auto& [milestone, count] : milestones)
    if (milestone <= last_epoch) passed += count;
  return scale_base(base_lrs, std::pow(gamma, static_cast<double>(passed)));
}

// Saved as PyTorch's Counter: a dict {milestone: multiplicity}.
Dict MultiStepLR::state_dict() const {
  Dict out = LRScheduler::state_dict();
  Dict counter;
  for (const auto& [milestone, count] : milestones) counter.set(milestone, Value(count));
  out.set("milestones", Value(std::move(counter)));
  return out;
}

void MultiStepLR::load_state_dict(const Dict& state) {
  LRScheduler::load_state_dict(state);
  if (const Value* counter = state.find("milestones")) {
    milestones.clear();
    for (const auto& [key, count] : counter->to_dict()) milestones[std::get<int64_t>(key)] = count.to_int();
  }
}

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, int64_t total_iters, int64_t last_epoch)
    : LRScheduler(optimizer), factor(factor), total_iters(total_iters) {
  if (factor > 1.0 || factor < 0)
    raise<ValueError>("Constant multiplicative factor expected to be between 0 and 1.");
  attribute("factor", &this->factor);
  attribute("total_iters", &this->total_iters);
  initialize(last_epoch);
}

std::vector<Value> ConstantLR::compute_lr() {
  if (last_epoch == 0) return scale_current(param_groups(), factor);
  if (last_epoch != total_iters) return current_lrs();
  return scale_current(param_groups(), divide(1.0, factor, "ConstantLR: factor"));
}

std::optional<std::vector<Value>> ConstantLR::closed_form_lr() {
  return scale_base(base_lrs, factor + (last_epoch >= total_iters ? 1.0 : 0.0) * (1 - factor));
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters,
                   int64_t last_epoch)
    : LRScheduler(optimizer), start_factor(start_factor), end_factor(end_factor), total_iters(total_iters) {
  if (start_factor > 1.0 || start_factor <= 0)
    raise<ValueError>("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.");
  if (end_factor > 1.0 || end_factor < 0)
    raise<ValueError>("Ending multiplicative factor expected to be between 0 and 1.");
  attribute("start_factor", &this->start_factor);
  attribute("end_factor", &this->end_factor);
  attribute("total_iters", &this->total_iters);
  initialize(last_epoch);
}

std::vector<Value> LinearLR::compute_lr() {
  if (last_epoch == 0) return scale_current(param_groups(), start_factor);
  if (is_initial() || last_epoch > total_iters) return current_lrs();
  const double delta = end_factor - start_factor;
  const double denominator =
      static_cast<double>(total_iters) * start_factor + static_cast<double>(last_epoch - 1) * delta;
  return scale_current(param_groups(), 1.0 + divide(delta, denominator, "LinearLR: total_iters"));
}

std::optional<std::vector<Value>> LinearLR::closed_form_lr() {
  const double done = static_cast<double>(std::min(total_iters, last_epoch));
  return scale_base(
      base_lrs, start_factor + divide((end_factor - start_factor) * done, static_cast<double>(total_iters),
                                      "LinearLR: total_iters"));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer), gamma(gamma) {
  attribute("gamma", &this->gamma);
  initialize(last_epoch);
}

std::vector<Value> ExponentialLR::compute_lr() {
  // Resuming from a checkpoint must not advance the lr during the constructor's step.
  if (is_initial()) return current_lrs();
  return scale_current(param_groups(), gamma);
}

std::optional<std::vector<Value>> ExponentialLR::closed_form_lr() {
  return scale_base(base_lrs, std::pow(gamma, static_cast<double>(last_epoch)));
}

PolynomialLR::PolynomialLR(Optimizer& optimizer, int64_t total_iters, double power, int64_t last_epoch)
    : LRScheduler(optimizer), total_iters(total_iters), power(power) {
  attribute("total_iters", &this->total_iters);
  attribute("power", &this->power);
  initialize(last_epoch);
}

std::vector<Value> PolynomialLR::compute_lr() {
  if (is_initial() || last_epoch > total_iters) return current_lrs();
  const auto total = static_cast<double>(total_iters);
  const double now = 1.0 - divide(static_cast<double>(last_epoch), total, "PolynomialLR: total_iters");
  const double before = 1.0 - static_cast<double>(last_epoch - 1) / total;
  return scale_current(param_groups(), std::pow(divide(now, before, "PolynomialLR"), power));
}

std::optional<std::vector<Value>> PolynomialLR::closed_form_lr() {
  const double done = static_cast<double>(std::min(total_iters, last_epoch));
  const double remaining = 1.0 - divide(done, static_cast<double>(total_iters), "PolynomialLR: total_iters");
  return scale_base(base_lrs, std::pow(remaining, power));
}

}  // namespace descent::optim::lr
