#pragma once
// The base of the optimizers whose update is pointwise (Adadelta, Adagrad,
// Adamax, ASGD, NAdam, RAdam, RMSprop, Rprop, and Adafactor, whose update is
// not): what they share beyond Optimizer is how an older state dict is
// brought up to date.
#include <string>

#include "descent/optim/optimizer.h"

namespace descent::optim {

class PointwiseOptimizer : public Optimizer {
 protected:
  // options_defaults: the options struct's own defaults, restored into a
  // loaded group that lacks a key (PyTorch's __setstate__).
  PointwiseOptimizer(std::string name, Dict defaults, Dict options_defaults);
  void setstate_group_defaults(ParamGroup& group) override;
  // A step counter saved as a number (older releases) becomes a tensor.
  void upgrade_param_state(const ParamGroup& group, const Tensor& param, Dict& state) override;

 private:
  Dict options_defaults_;
};

}  // namespace descent::optim
