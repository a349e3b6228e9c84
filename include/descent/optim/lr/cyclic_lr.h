#pragma once
// Per-batch cyclical policies: CyclicLR (Smith 2017, arXiv:1506.01186) and
// the 1cycle policy (Smith & Topin 2018, arXiv:1708.07120). Both overwrite
// the lr every step (not chainable), count batches in last_epoch, and by
// default cycle the momentum (SGD's momentum, or beta1 of Adam-style betas)
// inversely to the lr.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "descent/optim/lr/function.h"
#include "descent/optim/lr/lr_scheduler.h"

namespace descent::optim::lr {

// scale_fn(x) -> amplitude factor; x is the cycle number (scale_mode "cycle")
// or the batch index (scale_mode "iterations"). State handling as LrLambda.
using ScaleFn = SchedulerFunction<double(double)>;

/// CyclicLR's settings, with PyTorch's names and defaults.
struct CyclicLROptions {
  // Batches in the increasing half of a cycle.
  double step_size_up = 2000;
  // Batches in the decreasing half (default: step_size_up).
  std::optional<double> step_size_down{};
  // "triangular" (constant amplitude), "triangular2" (halved every cycle),
  // "exp_range" (scaled by gamma^iterations); ignored when scale_fn is set.
  std::string mode = "triangular";
  double gamma = 1.0;
  ScaleFn scale_fn{};
  std::string scale_mode = "cycle";
  bool cycle_momentum = true;
  PerGroup base_momentum = 0.8;
  PerGroup max_momentum = 0.9;
  int64_t last_epoch = -1;
};

/// lr = base + (max - base) * s * scale_fn(arg), s the triangular wave in
/// [0, 1]; momentum = max_m - (max_m - base_m) * s * scale_fn(arg).
/// A fresh scheduler (last_epoch -1) sets each group's lr to base_lr, its
/// momentum to max_momentum, and stores max_momentum/base_momentum in the group.
class CyclicLR final : public LRScheduler {
 public:
  CyclicLR(Optimizer& optimizer, const PerGroup& base_lr, const PerGroup& max_lr,
           CyclicLROptions options = {});
  std::string name() const override { return "CyclicLR"; }
  // "_scale_fn_custom": None for a plain function, the object's state for a ScaleFn::Object.
  Dict state_dict() const override;
  void load_state_dict(const Dict& state) override;

  // The scaling policy: the custom function, else the one `mode` names.
  double scale_fn(double x) const;

  std::vector<Value> max_lrs;
  double total_size;
  double step_ratio;
  std::string mode;
  double gamma;
  std::string scale_mode;
  bool cycle_momentum;
  bool use_beta1 = false;
  std::vector<Value> base_momentums;
  std::vector<Value> max_momentums;

 protected:
  std::vector<Value> compute_lr() override;

 private:
  void init_scale_fn();
  ScaleFn scale_fn_custom_;
};

/// OneCycleLR's settings, with PyTorch's names and defaults.
struct OneCycleLROptions {
  // Either total_steps, or epochs and steps_per_epoch (total = their product).
  std::optional<int64_t> total_steps{};
  std::optional<int64_t> epochs{};
  std::optional<int64_t> steps_per_epoch{};
  // Fraction of the cycle spent increasing the lr.
  double pct_start = 0.3;
  // "cos" or "linear".
  std::string anneal_strategy = "cos";
  bool cycle_momentum = true;
  PerGroup base_momentum = 0.85;
  PerGroup max_momentum = 0.95;
  // initial_lr = max_lr / div_factor; min_lr = initial_lr / final_div_factor.
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  // Three phases (up, down to initial_lr, then down to min_lr), as the paper,
  // instead of fastai's two.
  bool three_phase = false;
  int64_t last_epoch = -1;
};

/// lr rises from initial_lr to max_lr over pct_start of the steps, then
/// anneals to min_lr; momentum moves inversely between max_momentum and
/// base_momentum. A fresh scheduler stores initial_lr, max_lr, min_lr (and
/// the momentum bounds) in every group. Stepping past total_steps is a ValueError.
class OneCycleLR final : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, const PerGroup& max_lr, OneCycleLROptions options);
  std::string name() const override { return "OneCycleLR"; }
  Dict state_dict() const override;
  // Accepts legacy state dicts that carry "anneal_func" instead of
  // "_anneal_func_type": the strategy this scheduler was built with is kept.
  void load_state_dict(const Dict& state) override;

  /// One phase of the cycle: lr and momentum move between the named group
  /// entries while the step goes up to end_step.
  struct Phase {
    double end_step;
    std::string start_lr;
    std::string end_lr;
    std::string start_momentum;
    std::string end_momentum;
  };

  int64_t total_steps;
  std::vector<Phase> schedule_phases;
  std::string anneal_func_type;
  bool cycle_momentum;
  bool use_beta1 = false;

 protected:
  std::vector<Value> compute_lr() override;

 private:
  LrValue anneal(const LrValue& start, const LrValue& end, double pct) const;
};

}  // namespace descent::optim::lr
