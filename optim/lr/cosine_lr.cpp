#include "descent/optim/lr/cosine_lr.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace descent::optim::lr {

namespace {

constexpr double kPi = std::numbers::pi;

// Python's float %: the result takes the sign of the divisor.
double python_fmod(double a, double b, const char* what) {
  if (b == 0.0) raise<ValueError>(what, ": float modulo by zero");
  double r = std::fmod(a, b);
  if (r != 0.0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// eta_min + (base - eta_min) * (1 + cos(angle)) / 2, in PyTorch's operand order.
Value cosine_point(const Value& base, double eta_min, double angle) {
  return (LrValue(eta_min) + (LrValue(base) - eta_min) * (1 + std::cos(angle)) / 2.0).to_value();
}

}  // namespace

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min, int64_t last_epoch)
    : LRScheduler(optimizer), T_max(T_max), eta_min(eta_min) {
  attribute("T_max", &this->T_max);
  attribute("eta_min", &this->eta_min);
  initialize(last_epoch);
}

std::vector<Value> CosineAnnealingLR::compute_lr() {
  if (is_initial()) return current_lrs();
  const auto t_max = static_cast<double>(T_max);
  const auto e = static_cast<double>(last_epoch);
  std::vector<Value> out;
  auto& groups = param_groups();
  if (step_count() == 1 && last_epoch > 0) {
    for (const Value& base : base_lrs)
      out.push_back(cosine_point(base, eta_min, divide(e * kPi, t_max, "CosineAnnealingLR: T_max")));
    return out;
  }
  if (floor_mod(last_epoch - 1 - T_max, 2 * T_max, "CosineAnnealingLR: T_max") == 0) {
    // Leaving the minimum: the ratio below would be 0/0 here.
    const double rise = 1 - std::cos(kPi / t_max);
    // Groups added after construction have no base lr: write_lrs reports the mismatch.
    for (std::size_t i = 0; i < std::min(groups.size(), base_lrs.size()); ++i)
      out.push_back((LrValue(groups[i].at("lr")) + (LrValue(base_lrs[i]) - eta_min) * rise / 2.0).to_value());
    return out;
  }
  const double ratio =
      divide(1 + std::cos(kPi * e / t_max), 1 + std::cos(kPi * (e - 1) / t_max), "CosineAnnealingLR");
  for (ParamGroup& group : groups)
    out.push_back((ratio * (LrValue(group.at("lr")) - eta_min) + eta_min).to_value());
  return out;
}

std::optional<std::vector<Value>> CosineAnnealingLR::closed_form_lr() {
  const double angle =
      divide(kPi * static_cast<double>(last_epoch), static_cast<double>(T_max), "CosineAnnealingLR: T_max");
  std::vector<Value> out;
  for (const Value& base : base_lrs) out.push_back(cosine_point(base, eta_min, angle));
  return out;
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t T_0, int64_t T_mult,
                                                         double eta_min, int64_t last_epoch)
    : LRScheduler(optimizer),
      T_0(T_0),
      T_i(T_0),
      T_mult(T_mult),
      eta_min(eta_min),
      T_cur(static_cast<double>(last_epoch)) {
  if (T_0 <= 0) raise<ValueError>("Expected positive integer T_0, but got ", T_0);
  if (T_mult < 1) raise<ValueError>("Expected integer T_mult >= 1, but got ", T_mult);
  attribute("T_0", &this->T_0);
  attribute("T_i", &this->T_i);
  attribute("T_mult", &this->T_mult);
  attribute("eta_min", &this->eta_min);
  attribute("T_cur", &this->T_cur);
  initialize(last_epoch);
}

std::vector<Value> CosineAnnealingWarmRestarts::compute_lr() {
  const double angle = kPi * T_cur / static_cast<double>(T_i);
  std::vector<Value> out;
  for (const Value& base : base_lrs) out.push_back(cosine_point(base, eta_min, angle));
  return out;
}

void CosineAnnealingWarmRestarts::step() {
  // The construction step (last_epoch -1) is step(0).
  if (last_epoch < 0) return step(0.0);
  last_epoch += 1;
  T_cur = T_cur + 1;
  if (T_cur >= static_cast<double>(T_i)) {
    T_cur = python_fmod(T_cur, static_cast<double>(T_i), "CosineAnnealingWarmRestarts: T_i");
    T_i = T_i * T_mult;
  }
  write_current();
}

void CosineAnnealingWarmRestarts::step(double epoch) {
  if (epoch < 0) raise<ValueError>("Expected non-negative epoch, but got ", format_double(epoch));
  const auto t0 = static_cast<double>(T_0);
  if (epoch >= t0) {
    if (T_mult == 1) {
      T_cur = python_fmod(epoch, t0, "CosineAnnealingWarmRestarts: T_0");
    } else {
      const auto mult = static_cast<double>(T_mult);
      // Number of completed periods: T_0 (T_mult^n - 1) / (T_mult - 1) <= epoch.
      const auto n = static_cast<int64_t>(std::log(epoch / t0 * (mult - 1) + 1) / std::log(mult));
      int64_t power = 1;
      for (int64_t k = 0; k < n; ++k) power *= T_mult;
      T_cur = epoch - static_cast<double>(T_0 * (power - 1)) / static_cast<double>(T_mult - 1);
      T_i = T_0 * power;
    }
  } else {
    T_i = T_0;
    T_cur = epoch;
  }
  last_epoch = static_cast<int64_t>(std::floor(epoch));
  write_current();
}

void CosineAnnealingWarmRestarts::write_current() { write_lrs(compute_lr_within_step()); }

}  // namespace descent::optim::lr
