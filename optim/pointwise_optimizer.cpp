#include "descent/optim/pointwise_optimizer.h"

#include "optim/common.h"
#include "optim/pointwise.h"

namespace descent::optim {

PointwiseOptimizer::PointwiseOptimizer(std::string name, Dict defaults, Dict options_defaults)
    : Optimizer(std::move(name), std::move(defaults)), options_defaults_(std::move(options_defaults)) {}

void PointwiseOptimizer::setstate_group_defaults(ParamGroup& group) {
  for (const auto& [key, value] : options_defaults_) group.options.setdefault(key, value);
}

void PointwiseOptimizer::upgrade_param_state(const ParamGroup&, const Tensor&, Dict& state) {
  Value* step = state.find("step");
  if (step && step->is_number()) *step = detail::host_scalar(step->to_double());
}


}  // namespace descent::optim
