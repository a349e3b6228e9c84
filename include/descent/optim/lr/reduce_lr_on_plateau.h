#pragma once
// descent::optim::lr::ReduceLROnPlateau — lowers the lr when a metric stops
// improving. It reads the current lr (so it composes with other schedulers),
// takes no initial step and writes nothing into the groups until a reduction.
#include <cstdint>
#include <string>
#include <vector>

#include "descent/optim/lr/lr_scheduler.h"

namespace descent::optim::lr {

/// ReduceLROnPlateau's settings, with PyTorch's names and defaults.
struct ReduceLROnPlateauOptions {
  // "min": reduce when the metric stops decreasing; "max": stops increasing.
  std::string mode = "min";
  // new_lr = lr * factor; must be < 1.
  double factor = 0.1;
  // Epochs without improvement tolerated before a reduction.
  int64_t patience = 10;
  // Improvement must beat best * (1 -/+ threshold) ("rel") or best -/+ threshold ("abs").
  double threshold = 1e-4;
  std::string threshold_mode = "rel";
  // Epochs after a reduction during which bad epochs are not counted.
  int64_t cooldown = 0;
  // Lower bound, for every group or one per group.
  PerGroup min_lr = 0.0;
  // Reductions smaller than eps are skipped.
  double eps = 1e-8;
};

/// Lowers the lr by a factor when a metric passed to step(metric) stops improving for patience epochs.
class ReduceLROnPlateau final : public LRScheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});
  std::string name() const override { return "ReduceLROnPlateau"; }

  // Records one epoch's metric (a number or a one-element tensor).
  void step(double metrics) override;
  void step(const Tensor& metrics);
  // Deprecated: also sets last_epoch (warns with EPOCH_DEPRECATION_WARNING).
  void step(double metrics, int64_t epoch);
  // The metric is required: a TypeError, as calling PyTorch's step() without it.
  void step() override;

  void load_state_dict(const Dict& state) override;

  bool in_cooldown() const { return cooldown_counter > 0; }
  // Whether `a` improves on `best` under mode/threshold_mode/threshold.
  bool is_better(double a, double best) const;

  double factor;
  // One bound per group; default_min_lr is the scalar min_lr (None when a
  // list was given), used to cover groups added after construction.
  std::vector<Value> min_lrs;
  Value default_min_lr;
  int64_t patience;
  int64_t cooldown;
  int64_t cooldown_counter = 0;
  double eps;
  std::string mode;
  double threshold;
  std::string threshold_mode;
  double mode_worse;
  double best;
  int64_t num_bad_epochs = 0;

 protected:
  std::vector<Value> compute_lr() override;

 private:
  void init_is_better(const std::string& mode, double threshold, const std::string& threshold_mode);
  void record(double current, int64_t epoch);
  void reduce_lr();
};

}  // namespace descent::optim::lr
