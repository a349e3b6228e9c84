#pragma once
// Schedulers driven by user functions of the epoch.
#include <cstdint>
#include <string>
#include <vector>

#include "descent/optim/lr/function.h"
#include "descent/optim/lr/lr_scheduler.h"

namespace descent::optim::lr {

// f(epoch) -> factor. A plain callable is saved in state_dict as None; derive
// from LrLambda::Object to have its state saved and restored (see function.h).
using LrLambda = SchedulerFunction<double(int64_t)>;

/// lr = B * f(e), one function for every group or one per group. Not
/// chainable: it overwrites the lr from base_lrs.
class LambdaLR final : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, const LrLambda& lr_lambda, int64_t last_epoch = -1);
  // Exactly one function per param group.
  LambdaLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas, int64_t last_epoch = -1);
  std::string name() const override { return "LambdaLR"; }
  // "lr_lambdas": None per plain function, the object's state per Object.
  Dict state_dict() const override;
  void load_state_dict(const Dict& state) override;

  std::vector<LrLambda> lr_lambdas;

 protected:
  std::vector<Value> compute_lr() override;
};

/// lr = lr * f(e) at every step after construction (chainable).
class MultiplicativeLR final : public LRScheduler {
 public:
  MultiplicativeLR(Optimizer& optimizer, const LrLambda& lr_lambda, int64_t last_epoch = -1);
  MultiplicativeLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas, int64_t last_epoch = -1);
  std::string name() const override { return "MultiplicativeLR"; }
  Dict state_dict() const override;
  void load_state_dict(const Dict& state) override;

  std::vector<LrLambda> lr_lambdas;

 protected:
  std::vector<Value> compute_lr() override;
};

}  // namespace descent::optim::lr
