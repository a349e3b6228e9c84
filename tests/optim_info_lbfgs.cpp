// LBFGS's registry row (optimizers.md §13): PyTorch's optim_inputs_func_lbfgs
// configurations, its errors, and what the generic tests must know about a
// closure-driven optimizer with one global state.
#include "optim_registry.h"

namespace descent::testing {

namespace {

std::vector<Dict> lbfgs_inputs(Dtype) {
  return {{},
          {{"lr", 0.01}},
          {{"lr", scalar_tensor(0.001, {.dtype = kFloat32})}},
          {{"tolerance_grad", 1e-6}},
          {{"line_search_fn", "strong_wolfe"}},
          {{"maximize", true}},
          {{"maximize", true}, {"line_search_fn", "strong_wolfe"}}};
}

std::vector<ErrorInput> lbfgs_errors() {
  return {
      {"two param groups",
       [] { return Params{ParamGroup({sample_param()}), ParamGroup({sample_param()})}; },
       {},
       ErrorOn::Constructor,
       ErrorKind::ValueError,
       "LBFGS doesn't support per-parameter options (parameter groups)"},
      {"negative lr", nullptr, Dict{{"lr", -0.5}}, ErrorOn::Constructor, ErrorKind::ValueError,
       "Invalid learning rate: -0.5"},
      {"history_size 0", nullptr, Dict{{"history_size", 0}}, ErrorOn::Constructor, ErrorKind::ValueError,
       "Invalid history_size: 0 (must be >= 1)"},
      {"max_iter not an int", nullptr, Dict{{"max_iter", 2.5}}, ErrorOn::Constructor, ErrorKind::TypeError,
       "max_iter must be an int, got float (2.5)"},
      {"max_eval not an int", nullptr, Dict{{"max_eval", "many"}}, ErrorOn::Constructor, ErrorKind::TypeError,
       "max_eval must be an int, got str"},
      {"tolerance_grad not a number", nullptr, Dict{{"tolerance_grad", Value()}}, ErrorOn::Constructor,
       ErrorKind::TypeError, "tolerance_grad must be a number, got None"},
      // Accepted by the constructor; raised where the line search would run.
      {"an unknown line search", nullptr, Dict{{"line_search_fn", "armijo"}}, ErrorOn::Step,
       ErrorKind::RuntimeError, "only 'strong_wolfe' is supported", dense_grads},
  };
}

}  // namespace

void add_lbfgs_row(std::vector<OptimizerInfo>& rows) {
  OptimizerInfo lbfgs;
  lbfgs.name = "LBFGS";
  lbfgs.optim_inputs = lbfgs_inputs;
  lbfgs.error_inputs = lbfgs_errors();
  lbfgs.supported_impls = {};
  lbfgs.step_requires_closure = true;
  lbfgs.supports_param_groups = false;
  lbfgs.state_on_first_param = true;
  lbfgs.not_og_supported_flags = {"maximize"};
  lbfgs.convergence_kwargs = Dict{{"line_search_fn", "strong_wolfe"}};
  // PyTorch's toleranceOverride: one complex 2-vector and its two real parts
  // flatten in different orders, so the reductions round differently.
  lbfgs.complex_2d_tolerance = Tolerance{4.5e-5, 5e-5};
  // PyTorch's DecorateInfo skips of its LBFGS row.
  for (const char* test : {"test_param_groups_lr", "test_param_groups_weight_decay",
                           "test_param_group_with_lrscheduler_goes_right_direction"})
    lbfgs.skips[test] = "Does not support param groups";
  lbfgs.skips["test_forloop_goes_right_direction_multigpu"] = "PyTorch's multi-GPU test leaves LBFGS out";
  rows.push_back(lbfgs);
}

}  // namespace descent::testing
