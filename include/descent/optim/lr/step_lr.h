#pragma once
// The chainable decay schedulers. Each step multiplies the group's *current*
// lr by a factor, so several of them on one optimizer compose
// multiplicatively; step(epoch) uses the closed form from base_lrs instead.
// Notation: B = base lr (group["initial_lr"]), e = last_epoch.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "descent/optim/lr/lr_scheduler.h"

namespace descent::optim::lr {

/// Decays by gamma every step_size epochs: lr = B * gamma^floor(e / step_size).
class StepLR final : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1, int64_t last_epoch = -1);
  std::string name() const override { return "StepLR"; }

  int64_t step_size;
  double gamma;

 protected:
  std::vector<Value> compute_lr() override;
  std::optional<std::vector<Value>> closed_form_lr() override;
};

/// Decays by gamma at each milestone: lr = B * gamma^(number of milestones <= e).
/// A milestone listed n times decays by gamma^n (PyTorch keeps a Counter).
class MultiStepLR final : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, const std::vector<int64_t>& milestones, double gamma = 0.1,
              int64_t last_epoch = -1);
  std::string name() const override { return "MultiStepLR"; }
  Dict state_dict() const override;
  void load_state_dict(const Dict& state) override;

  // milestone -> multiplicity
  std::map<int64_t, int64_t> milestones;
  double gamma;

 protected:
  std::vector<Value> compute_lr() override;
  std::optional<std::vector<Value>> closed_form_lr() override;
};

/// Multiplies by factor until total_iters: lr = B * (factor if e < total_iters else 1).
class ConstantLR final : public LRScheduler {
 public:
  // factor must be in [0, 1].
  ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3, int64_t total_iters = 5, int64_t last_epoch = -1);
  std::string name() const override { return "ConstantLR"; }

  double factor;
  int64_t total_iters;

 protected:
  std::vector<Value> compute_lr() override;
  std::optional<std::vector<Value>> closed_form_lr() override;
};

/// Moves the factor linearly from start_factor to end_factor over total_iters:
/// lr = B * (start + (end - start) * min(e, total_iters) / total_iters).
class LinearLR final : public LRScheduler {
 public:
  // start_factor in (0, 1], end_factor in [0, 1].
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5, int64_t last_epoch = -1);
  std::string name() const override { return "LinearLR"; }

  double start_factor;
  double end_factor;
  int64_t total_iters;

 protected:
  std::vector<Value> compute_lr() override;
  std::optional<std::vector<Value>> closed_form_lr() override;
};

/// lr = B * gamma^e.
class ExponentialLR final : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma, int64_t last_epoch = -1);
  std::string name() const override { return "ExponentialLR"; }

  double gamma;

 protected:
  std::vector<Value> compute_lr() override;
  std::optional<std::vector<Value>> closed_form_lr() override;
};

/// lr = B * (1 - min(e, total_iters) / total_iters)^power; exactly 0 from total_iters on.
class PolynomialLR final : public LRScheduler {
 public:
  PolynomialLR(Optimizer& optimizer, int64_t total_iters = 5, double power = 1.0, int64_t last_epoch = -1);
  std::string name() const override { return "PolynomialLR"; }

  int64_t total_iters;
  double power;

 protected:
  std::vector<Value> compute_lr() override;
  std::optional<std::vector<Value>> closed_form_lr() override;
};

}  // namespace descent::optim::lr
