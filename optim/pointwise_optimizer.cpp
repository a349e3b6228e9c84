#include "descent/optim/pointwise_optimizer.h"

#include <cmath>

#include "optim/common.h"
#include "optim/pointwise.h"

namespace descent::optim {

PointwiseOptimizer::PointwiseOptimizer(std::string name, Dict defaults, Declaration declaration)
    : Optimizer(std::move(name), std::move(defaults)), declaration_(std::move(declaration)) {}

Shape state_shape(StateShape rule, const Shape& param) {
  switch (rule) {
    case StateShape::Scalar: return {};
    case StateShape::LikeParam: return param;
    case StateShape::Rows:
    case StateShape::Columns: break;
  }
  if (param.size() < 2)
    raise<ValueError>("state_shape: ", rule == StateShape::Rows ? "Rows" : "Columns",
                      " needs a param of at least 2 dims, got shape ", shape_to_string(param));
  Shape shape = param;
  shape[shape.size() - (rule == StateShape::Rows ? 1 : 2)] = 1;
  return shape;
}

std::vector<PointwiseOptimizer::StateEntry> PointwiseOptimizer::declared_state(const Tensor& param) const {
  for (const ParamGroup& group : param_groups())
    for (const Tensor& p : group.params)
      if (p.is_same(param)) return declaration_.state_entries(group, param);
  raise<ValueError>(name(), ".declared_state: the tensor",
                    param.defined() ? " of shape " + shape_to_string(param.sizes()) : std::string(" (undefined)"),
                    " is not a param of this optimizer (none of its param groups holds it)");
}

void PointwiseOptimizer::setstate_group_defaults(ParamGroup& group) {
  for (const auto& [key, value] : declaration_.options_defaults)
    if (value.is_bool() || value.is_none()) group.options.setdefault(key, value);
}

void PointwiseOptimizer::upgrade_param_state(const ParamGroup&, const Tensor&, Dict& state) {
  Value* step = state.find("step");
  if (step && step->is_number()) *step = detail::host_scalar(step->to_double());
}

void PointwiseOptimizer::check_loaded_group(const ParamGroup& group, std::size_t g,
                                            const OptimizerState& state) const {
  const std::string where = name() + ".load_state_dict: param_groups[" + std::to_string(g) + "]";
  try {
    declaration_.validate_options(name(), group.options);
  } catch (const Error&) {
    detail::rethrow_with_context(where + ": ");
  }
  for (std::size_t k = 0; k < group.params.size(); ++k) {
    const Tensor& param = group.params[k];
    const Dict* st = state.find(param);
    if (!st || st->empty()) continue;
    const std::string of = where + ", parameter " + std::to_string(k) + ": the state '";
    for (const StateEntry& e : declaration_.state_entries(group, param)) {
      const Value* v = st->find(e.key);
      if (!v || v->is_none()) {
        if (e.required)
          raise<ValueError>(of, e.key, "' is missing (the group's options need it; a state dict of another "
                                       "optimizer or configuration?)");
        continue;
      }
      double scalar = 0;
      if (v->is_number() && e.shape == StateShape::Scalar) {
        scalar = v->to_double();
      } else if (!v->is_tensor()) {
        raise<TypeError>(of, e.key, "' must be a tensor, got ", v->type_name(), " ", v->str());
      } else {
        const Tensor& t = v->to_tensor();
        if (!t.defined()) raise<ValueError>(of, e.key, "' is an undefined tensor");
        if (t.is_sparse()) raise<ValueError>(of, e.key, "' must be a dense tensor, got a sparse one");
        if (!t.is_floating_point() && !t.is_complex())
          raise<TypeError>(of, e.key, "' must be a floating-point tensor, got ", to_string(t.dtype()));
        if (e.shape != StateShape::Scalar) {
          const Shape expected = state_shape(e.shape, param.sizes());
          if (t.sizes() != expected)
            raise<ValueError>(of, e.key, "' has shape ", shape_to_string(t.sizes()), " but the parameter has shape ",
                              shape_to_string(param.sizes()),
                              e.shape == StateShape::LikeParam ? "" : ", which needs " + shape_to_string(expected),
                              " (state must match its parameter)");
          continue;
        }
        if (t.numel() != 1)
          raise<ValueError>(of, e.key, "' must be a one-element tensor, got shape ", shape_to_string(t.sizes()));
        scalar = t.to(kCPU).item<double>();
      }
      if (e.key == "step" && !(std::isfinite(scalar) && scalar >= 0))
        raise<ValueError>(of, "step' is ", scalar, " (a step count must be finite and not negative)");
    }
  }
}

}  // namespace descent::optim
