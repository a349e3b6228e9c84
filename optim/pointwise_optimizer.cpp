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

namespace detail {

bool default_to_fused(const Optimizer& optimizer, const ParamGroup& group, const std::vector<ParamRef>& params) {
  if (get_bool(group, "differentiable") || optimizer.grad_scale.defined() || optimizer.found_inf.defined())
    return false;
  for (const ParamRef& r : params) {
    const TensorImpl& p = *r.param_impl;
    const TensorImpl& g = *r.grad_impl;
    if ((p.dtype != kFloat32 && p.dtype != kFloat64) || p.layout != Layout::Strided ||
        !p.storage->device.is_cpu() || !same_layout(p, g))
      return false;
  }
  return true;
}

}  // namespace detail

}  // namespace descent::optim
