#pragma once
// Cosine annealing (SGDR, Loshchilov & Hutter 2017, arXiv:1608.03983).
#include <cstdint>
#include <string>
#include <vector>

#include "descent/optim/lr/lr_scheduler.h"

namespace descent::optim::lr {

/// lr = eta_min + (B - eta_min) * (1 + cos(pi * e / T_max)) / 2, computed
/// recursively from the current lr (so it composes with other schedulers);
/// past T_max it rises again with period 2 * T_max (no restart).
class CosineAnnealingLR final : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0, int64_t last_epoch = -1);
  std::string name() const override { return "CosineAnnealingLR"; }

  int64_t T_max;
  double eta_min;

 protected:
  std::vector<Value> compute_lr() override;
  std::optional<std::vector<Value>> closed_form_lr() override;
};

/// lr = eta_min + (B - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2, where T_cur
/// counts epochs since the last restart and the period T_i starts at T_0 and
/// is multiplied by T_mult at every restart. Not chainable (it overwrites the
/// lr from base_lrs). step(epoch) takes fractional epochs, e.g. per batch
/// step(epoch + i / iters), and is not deprecated here.
class CosineAnnealingWarmRestarts final : public LRScheduler {
 public:
  // T_0 must be positive, T_mult at least 1.
  CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t T_0, int64_t T_mult = 1, double eta_min = 0.0,
                              int64_t last_epoch = -1);
  std::string name() const override { return "CosineAnnealingWarmRestarts"; }

  void step() override;
  void step(double epoch) override;

  int64_t T_0;
  int64_t T_i;
  int64_t T_mult;
  double eta_min;
  double T_cur;

 protected:
  std::vector<Value> compute_lr() override;

 private:
  void write_current();
};

}  // namespace descent::optim::lr
