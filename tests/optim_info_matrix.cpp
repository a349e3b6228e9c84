// The registry rows of the optimizers whose update is not pointwise, built
// around matrices: Adafactor (factored second moments, optimizers.md §14)
// and Muon (Newton–Schulz orthogonalised momentum, §15).
#include "optim_registry.h"

namespace descent::testing {

namespace {

ErrorInput constructor_error(std::string description, Dict kwargs, std::string fragment) {
  return {std::move(description), nullptr, std::move(kwargs), ErrorOn::Constructor, ErrorKind::ValueError,
          std::move(fragment)};
}

// A complex 2x3 param with a grad: both reject it at the step.
Params complex_param() {
  Tensor p = complex(rand({2, 3}), rand({2, 3})).requires_grad_();
  p.set_grad(complex(rand({2, 3}), rand({2, 3})));
  return Params{p};
}

ErrorInput complex_error(const std::string& name) {
  return {"complex params", complex_param, {}, ErrorOn::Step, ErrorKind::RuntimeError,
          name + " does not support complex parameters"};
}

ErrorInput sparse_error(const std::string& name) {
  return {"sparse grads", nullptr, {}, ErrorOn::Step, ErrorKind::RuntimeError,
          name + " does not support sparse gradients", sparse_grads};
}

void with_grad_scale(Optimizer& opt) {
  dense_grads(opt);
  opt.grad_scale = ones({1});
}

OptimizerInfo adafactor_row() {
  OptimizerInfo info;
  info.name = "Adafactor";
  // fused: descent's extension (PyTorch's Adafactor has none), the forloop's bits.
  info.supported_impls = {"foreach", "fused"};
  info.fused_dtypes = {kFloat64, kFloat32};
  info.fused_bitwise = true;
  info.skips["test_fused_does_not_step_if_foundinf"] =
      "Adafactor rejects grad_scale and found_inf in step() on every path, as PyTorch's Adafactor does";
  info.foreach_intermediates = 2;
  info.foreach_intermediates_maximize = 3;
  info.skips["test_defaults_changed_to_foreach"] = "Adafactor never defaults to foreach (optimizer-base.md §9.1)";
  info.supports_complex = false;
  info.has_step_state = true;
  info.not_og_supported_flags = {"foreach", "fused"};
  info.convergence_kwargs = Dict{{"lr", 0.1}};
  // descent's reductions add in another order than PyTorch's, so a float32
  // norm may differ in its last bit; each norm (RMS(θ), RMS(U)) scales the
  // whole update, which with lr = 0.5 is of the params' size: up to ~1e-7
  // per step, absolute.
  info.golden_tolerance[kFloat32] = {1e-6, 3e-7};
  const std::vector<Dict> configs{{},
                                  {{"weight_decay", 0.1}, {"lr", 0.01}},
                                  {{"weight_decay", 0.1}, {"maximize", true}},
                                  {{"beta2_decay", -1.0}},
                                  {{"d", 1.5}},
                                  {{"lr", scalar_tensor(0.01, {.dtype = kFloat32})}}};
  info.optim_inputs = [configs](Dtype) { return configs; };
  info.error_inputs = {
      constructor_error("negative epsilon1", Dict{{"eps", Value::tuple({-1e-30, 1e-3})}},
                        "epsilon1 should be >= 0 but is: -1e-30"),
      constructor_error("negative epsilon2", Dict{{"eps", Value::tuple({Value(), -1e-3})}},
                        "epsilon2 should be >= 0 but is: -0.001"),
      constructor_error("d below 1", Dict{{"d", 0.0}}, "Clipping threshold d should be >= 1 but is: 0.0"),
      constructor_error("positive beta2_decay", Dict{{"beta2_decay", 0.8}}, "beta2_decay should be <= 0 but is: 0.8"),
      constructor_error("negative lr", Dict{{"lr", -0.01}}, "Learning rate should be >= 0 but is: -0.01"),
      constructor_error("negative weight_decay", Dict{{"weight_decay", -0.1}},
                        "weight_decay should be >= 0 but is: -0.1"),
      {"eps not a pair", nullptr, Dict{{"eps", 1e-3}}, ErrorOn::Constructor, ErrorKind::TypeError,
       "'eps' must be a tuple of 2 values"},
      {"epsilon2 None", nullptr, Dict{{"eps", Value::tuple({Value(), Value()})}}, ErrorOn::Constructor,
       ErrorKind::TypeError, "eps[1] must be a number, got None"},
      {"fused and foreach", nullptr, Dict{{"fused", true}, {"foreach", true}}, ErrorOn::Constructor,
       ErrorKind::RuntimeError, "`fused` and `foreach` cannot be `True` together"},
      complex_error("Adafactor"),
      sparse_error("Adafactor"),
      {"grad_scale", nullptr, {}, ErrorOn::Step, ErrorKind::RuntimeError,
       "Grad scaling should occur outside of optimizer.step()", with_grad_scale},
  };
  return info;
}

OptimizerInfo muon_row() {
  OptimizerInfo info;
  info.name = "Muon";
  info.supported_impls = {};
  info.supports_complex = false;
  info.only_2d_params = true;
  info.decays_by_default = true;
  info.bool_option = "nesterov";  // Muon has no maximize
  info.not_og_supported_flags = {};
  info.convergence_kwargs = Dict{{"lr", 0.02}, {"weight_decay", 0.0}};
  // The iteration runs in bfloat16 with float32 accumulation, in another
  // order than PyTorch's gemm: an element of O that cancels to ~1e-5 may
  // round to the neighbouring bfloat16 (2^-23 there), which moves θ by
  // lr'·2^-23 (float32 params hide it; float64 params show it).
  info.golden_tolerance[kFloat64] = {1e-12, 1e-8};
  const std::vector<Dict> configs{{},
                                  {{"lr", 0.01}},
                                  {{"lr", scalar_tensor(0.001, {.dtype = kFloat32})}},
                                  {{"weight_decay", 0.2}},
                                  {{"momentum", 0.8}},
                                  {{"ns_steps", 6}},
                                  {{"ns_coefficients", Value::tuple({3.4, -4.7, 2.0})}},
                                  {{"nesterov", false}},
                                  {{"adjust_lr_fn", "match_rms_adamw"}},
                                  {{"adjust_lr_fn", "spectral_unclamped"}}};
  info.optim_inputs = [configs](Dtype) { return configs; };
  info.error_inputs = {
      {"a 3-D param",
       [] { return Params{rand({2, 3, 4}).requires_grad_()}; },
       {},
       ErrorOn::Constructor,
       ErrorKind::ValueError,
       "Muon only supports 2D parameters whereas we found a parameter with size: torch.Size([2, 3, 4])"},
      constructor_error("unknown adjust_lr_fn", Dict{{"adjust_lr_fn", "arbitrary"}},
                        "Adjust learning rate function arbitrary is not supported"),
      constructor_error("negative lr", Dict{{"lr", -0.01}}, "Learning rate should be >= 0 but is: -0.01"),
      constructor_error("negative momentum", Dict{{"momentum", -0.5}}, "momentum should be >= 0 but is: -0.5"),
      constructor_error("negative weight_decay", Dict{{"weight_decay", -0.1}},
                        "weight decay should be >= 0 but is: -0.1"),
      complex_error("Muon"),
      sparse_error("Muon"),
      {"100 Newton-Schulz steps", nullptr, Dict{{"ns_steps", 100}}, ErrorOn::Step, ErrorKind::ValueError,
       "Number of steps must be less than 100 for computational efficiency", dense_grads},
      {"two coefficients", nullptr, Dict{{"ns_coefficients", Value::tuple({3.4, -4.7})}}, ErrorOn::Step,
       ErrorKind::ValueError, "Coefficients must be a tuple of exactly 3 values", dense_grads},
      {"a 1-D param added by add_param_group", nullptr, {}, ErrorOn::Step, ErrorKind::ValueError,
       "Param gradient must be a 2D matrix",
       [](Optimizer& opt) {
         opt.add_param_group(ParamGroup({randn({3}).requires_grad_()}));
         dense_grads(opt);
       }},
      {"grad_scale", nullptr, {}, ErrorOn::Step, ErrorKind::RuntimeError,
       "Expected grad_scale and found_inf to be None", with_grad_scale},
  };
  return info;
}

}  // namespace

void add_matrix_rows(std::vector<OptimizerInfo>& rows) {
  rows.push_back(adafactor_row());
  rows.push_back(muon_row());
}

}  // namespace descent::testing
