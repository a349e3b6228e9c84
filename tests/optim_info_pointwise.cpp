// The registry rows of the pointwise optimizers (optimizers.md §4–11): the
// configurations the generic tests run, the inputs that must fail, and the
// state a differentiable step starts from.
#include "optim_registry.h"

namespace descent::testing {

namespace {

Value pair(double a, double b) { return Value::tuple({a, b}); }

ErrorInput constructor_error(std::string description, Dict kwargs, std::string fragment) {
  return {std::move(description), nullptr, std::move(kwargs), ErrorOn::Constructor, ErrorKind::ValueError,
          std::move(fragment)};
}

// What every pointwise optimizer rejects: sparse grads (Adagrad: with
// weight_decay or fused), capturable on the CPU, the flag conflicts.
std::vector<ErrorInput> common_errors(const std::string& name, std::vector<ErrorInput> own) {
  if (name == "Adagrad") {
    own.push_back({"sparse grads with weight_decay", nullptr, Dict{{"weight_decay", 0.1}}, ErrorOn::Step,
                   ErrorKind::RuntimeError, "weight_decay option is not compatible with sparse gradients",
                   sparse_grads});
    own.push_back({"sparse grads with fused", nullptr, Dict{{"fused", true}}, ErrorOn::Step, ErrorKind::RuntimeError,
                   "`fused` does not support sparse grad or complex param", sparse_grads});
  } else {
    own.push_back({"sparse grads", nullptr, {}, ErrorOn::Step, ErrorKind::RuntimeError,
                   name + " does not support sparse gradients", sparse_grads});
  }
  for (ErrorInput& e : fused_flag_errors()) own.push_back(std::move(e));
  return own;
}

void add_capturable_error(std::vector<ErrorInput>& errors) {
  errors.push_back({"capturable on the CPU", nullptr, Dict{{"capturable", true}}, ErrorOn::Step,
                    ErrorKind::RuntimeError, "If capturable=True, params and state_steps must be on supported devices",
                    dense_grads});
}

// Every config of the spec, plus a tensor lr at the default value.
std::function<std::vector<Dict>(Dtype)> configs(std::vector<Dict> list, double default_lr) {
  list.push_back({{"lr", scalar_tensor(default_lr, {.dtype = kFloat32})}});
  return [list](Dtype) { return list; };
}

// A differentiable step's starting state: `step` and the given tensors.
std::function<Dict(const Shape&, Generator&)> differentiable_state(std::vector<std::string> keys,
                                                                    Dict scalars = {}) {
  return [keys, scalars](const Shape& shape, Generator& gen) {
    Dict state{{"step", scalar_tensor(10.0, {.dtype = kFloat64})}};
    for (const auto& [key, value] : scalars) state.set(key, value);
    for (const std::string& key : keys) state.set(key, state_tensor(shape, gen));
    return state;
  };
}

OptimizerInfo row(std::string name) {
  OptimizerInfo info;
  info.name = std::move(name);
  info.supported_impls = {"foreach", "fused", "differentiable"};
  // fused=True also runs float16/bfloat16 params, computing in float32 and
  // rounding once per step; the forloop rounds every op to the param's
  // dtype, so the two are compared in float32/float64 only.
  info.fused_dtypes = {kFloat64, kFloat32};
  info.has_capturable_arg = true;
  info.has_step_state = true;
  info.fused_bitwise = true;
  return info;
}

}  // namespace

void add_pointwise_rows(std::vector<OptimizerInfo>& rows) {
  {
    OptimizerInfo info = row("Adadelta");
    info.foreach_intermediates = info.foreach_intermediates_maximize = 3;
    info.convergence_kwargs = Dict{{"lr", 1.0}};
    info.optim_inputs = configs({{},
                                 {{"lr", 0.01}},
                                 {{"weight_decay", 0.1}},
                                 {{"maximize", true}},
                                 {{"weight_decay", 0.1}, {"maximize", true}},
                                 {{"rho", 0.95}, {"weight_decay", 0.9}}},
                                1.0);
    info.error_inputs = common_errors(
        "Adadelta", {constructor_error("rho > 1", Dict{{"lr", 1e-2}, {"rho", 1.1}}, "Invalid rho value: 1.1")});
    add_capturable_error(info.error_inputs);
    info.not_og_supported_flags = {"foreach", "differentiable", "maximize", "capturable", "fused"};
    info.differentiable_configs = {{{"lr", 0.9}}, {{"lr", 0.9}, {"weight_decay", 0.1}, {"maximize", true}}};
    info.differentiable_state = differentiable_state({"square_avg", "acc_delta"});
    rows.push_back(info);
  }
  {
    OptimizerInfo info = row("Adagrad");
    info.foreach_intermediates = info.foreach_intermediates_maximize = 2;
    info.convergence_kwargs = Dict{{"lr", 0.5}};
    info.optim_inputs = configs({{},
                                 {{"weight_decay", 0.1}},
                                 {{"weight_decay", 0.1}, {"maximize", true}},
                                 {{"lr", 0.1}},
                                 {{"initial_accumulator_value", 0.1}, {"weight_decay", 0.1}},
                                 {{"lr", 0.1}, {"lr_decay", 0.5}, {"weight_decay", 0.1}}},
                                0.001);
    info.error_inputs = common_errors(
        "Adagrad",
        {constructor_error("negative lr_decay", Dict{{"lr", 1e-2}, {"lr_decay", -0.5}}, "Invalid lr_decay value: -0.5")});
    info.has_capturable_arg = false;
    info.state_at_construction = true;
    info.supports_sparse = true;
    info.sparse_kwargs = Dict{{"lr", 0.1}, {"weight_decay", 0}, {"lr_decay", 0}};
    info.sparse_schedulers = [](Optimizer& opt) {
      std::vector<std::unique_ptr<optim::lr::LRScheduler>> s;
      s.push_back(std::make_unique<optim::lr::StepLR>(opt, 500, 1 - 1e-5));
      s.push_back(std::make_unique<optim::lr::ReduceLROnPlateau>(opt, optim::lr::ReduceLROnPlateauOptions{.threshold = 1e-4}));
      return s;
    };
    info.not_og_supported_flags = {"foreach", "differentiable", "maximize", "fused"};
    info.differentiable_configs = {{{"lr", 0.9}}, {{"lr", 0.9}, {"lr_decay", 0.5}, {"weight_decay", 0.1}}};
    info.differentiable_state = differentiable_state({"sum"});
    rows.push_back(info);
  }
  {
    OptimizerInfo info = row("Adamax");
    info.convergence_kwargs = Dict{{"lr", 0.05}};
    info.optim_inputs = configs({{},
                                 {{"lr", 0.1}},
                                 {{"weight_decay", 0.1}},
                                 {{"maximize", true}},
                                 {{"weight_decay", 0.1}, {"maximize", true}}},
                                2e-3);
    info.error_inputs = common_errors(
        "Adamax", {constructor_error("beta2 = 1", Dict{{"lr", 1e-2}, {"betas", pair(0.0, 1.0)}},
                                     "Invalid beta parameter at index 1: 1.0")});
    add_capturable_error(info.error_inputs);
    info.not_og_supported_flags = {"foreach", "differentiable", "maximize", "capturable", "fused"};
    info.differentiable_configs = {{{"lr", 0.9}}, {{"lr", 0.9}, {"weight_decay", 0.1}, {"maximize", true}}};
    info.differentiable_state = differentiable_state({"exp_avg", "exp_inf"});
    rows.push_back(info);
  }
  {
    OptimizerInfo info = row("ASGD");
    info.foreach_intermediates = info.foreach_intermediates_maximize = 3;
    info.convergence_kwargs = Dict{{"lr", 4e-3}};
    info.optim_inputs = configs({{},
                                 {{"lambd", 0.1}},
                                 {{"lr", 0.02}},
                                 {{"t0", 100}},
                                 {{"maximize", true}},
                                 {{"weight_decay", 0.1}},
                                 {{"weight_decay", 0.1}, {"maximize", true}}},
                                1e-2);
    info.error_inputs = common_errors(
        "ASGD", {constructor_error("negative weight_decay", Dict{{"lr", 1e-2}, {"weight_decay", -0.5}},
                                   "Invalid weight_decay value: -0.5")});
    add_capturable_error(info.error_inputs);
    info.not_og_supported_flags = {"foreach", "differentiable", "maximize", "capturable", "fused"};
    // The lambd decay changes θ even without a gradient (PyTorch skips it too).
    info.skips["test_step_is_noop_for_zero_grads"] = "ASGD decays the param by lambd·eta every step";
    info.skips["hyper-parameters are read from the group at every step"] =
        "ASGD reads lr once, into each param's eta state";
    info.differentiable_configs = {{{"lr", 0.9}, {"t0", 2}}, {{"lr", 0.9}, {"weight_decay", 0.1}, {"maximize", true}}};
    info.differentiable_state = differentiable_state(
        {"ax"}, Dict{{"eta", scalar_tensor(0.5, {.dtype = kFloat64})}, {"mu", scalar_tensor(0.5, {.dtype = kFloat64})}});
    rows.push_back(info);
  }
  {
    OptimizerInfo info = row("NAdam");
    info.foreach_intermediates = info.foreach_intermediates_maximize = 2;
    info.convergence_kwargs = Dict{{"lr", 0.02}};
    info.optim_inputs = configs({{},
                                 {{"lr", 1e-3}},
                                 {{"momentum_decay", 6e-3}},
                                 {{"weight_decay", 0.1}},
                                 {{"weight_decay", 0.1}, {"momentum_decay", 6e-3}},
                                 {{"weight_decay", 0.1}, {"momentum_decay", 6e-3}, {"decoupled_weight_decay", true}},
                                 {{"weight_decay", 0.1}, {"maximize", true}}},
                                2e-3);
    info.error_inputs = common_errors(
        "NAdam", {constructor_error("beta1 = 1", Dict{{"lr", 1e-2}, {"betas", pair(1.0, 0.0)}},
                                    "Invalid beta parameter at index 0: 1.0"),
                  constructor_error("negative momentum_decay", Dict{{"lr", 1e-2}, {"momentum_decay", -0.2}},
                                    "Invalid momentum_decay value: -0.2")});
    add_capturable_error(info.error_inputs);
    info.not_og_supported_flags = {"foreach",    "differentiable", "maximize",
                                   "capturable", "fused",          "decoupled_weight_decay"};
    info.differentiable_configs = {{{"lr", 0.9}}, {{"lr", 0.9}, {"weight_decay", 0.1}, {"decoupled_weight_decay", true}}};
    info.differentiable_state = differentiable_state(
        {"exp_avg", "exp_avg_sq"}, Dict{{"mu_product", scalar_tensor(0.5, {.dtype = kFloat64})}});
    rows.push_back(info);
  }
  {
    OptimizerInfo info = row("RAdam");
    info.foreach_intermediates = info.foreach_intermediates_maximize = 4;
    // Its first steps are SGD with momentum (unrectified): on Rosenbrock 1e-2
    // diverges (PyTorch too: 2.6e70 after 3000 steps), 2e-3 is too slow.
    info.convergence_kwargs = Dict{{"lr", 5e-3}};
    info.optim_inputs = configs({{},
                                 {{"lr", 2e-3}},
                                 {{"eps", 1e-6}},
                                 {{"weight_decay", 0.1}},
                                 {{"weight_decay", 0.1}, {"decoupled_weight_decay", true}},
                                 {{"weight_decay", 0.1}, {"maximize", true}}},
                                1e-3);
    info.error_inputs = common_errors(
        "RAdam", {constructor_error("beta1 = 1", Dict{{"lr", 1e-2}, {"betas", pair(1.0, 0.0)}},
                                    "Invalid beta parameter at index 0: 1.0"),
                  constructor_error("negative weight_decay", Dict{{"lr", 1e-2}, {"weight_decay", -1}},
                                    "Invalid weight_decay value: -1")});
    add_capturable_error(info.error_inputs);
    info.not_og_supported_flags = {"foreach",    "differentiable", "maximize",
                                   "capturable", "fused",          "decoupled_weight_decay"};
    info.differentiable_configs = {{{"lr", 0.9}}, {{"lr", 0.9}, {"weight_decay", 0.1}, {"maximize", true}}};
    info.differentiable_state = differentiable_state({"exp_avg", "exp_avg_sq"});
    rows.push_back(info);
  }
  {
    OptimizerInfo info = row("RMSprop");
    info.foreach_intermediates = info.foreach_intermediates_maximize = 2;
    info.convergence_kwargs = Dict{{"lr", 1e-2}, {"momentum", 0.9}, {"centered", true}};
    info.optim_inputs = configs({{},
                                 {{"lr", 1e-3}},
                                 {{"weight_decay", 0.1}},
                                 {{"maximize", true}},
                                 {{"weight_decay", 0.1}, {"centered", true}},
                                 {{"maximize", true}, {"weight_decay", 0.1}},
                                 {{"weight_decay", 0.1}, {"centered", true}, {"momentum", 0.1}},
                                 {{"weight_decay", 0.1}, {"centered", true}, {"momentum", 0.1}, {"maximize", true}}},
                                1e-2);
    info.error_inputs = common_errors(
        "RMSprop",
        {constructor_error("negative momentum", Dict{{"lr", 1e-2}, {"momentum", -1.0}}, "Invalid momentum value: -1.0")});
    add_capturable_error(info.error_inputs);
    info.not_og_supported_flags = {"foreach", "differentiable", "maximize", "capturable", "fused"};
    info.differentiable_configs = {{{"lr", 0.9}},
                                   {{"lr", 0.9}, {"centered", true}, {"momentum", 0.5}, {"weight_decay", 0.1}}};
    // square_avg above grad_avg², as a run's state is: the centered root stays real.
    info.differentiable_state = [](const Shape& shape, Generator& gen) {
      Dict state = differentiable_state({"momentum_buffer", "grad_avg"})(shape, gen);
      state.set("square_avg", (rand(shape, {.dtype = kFloat64}, &gen) + 1.0).requires_grad_());
      return state;
    };
    rows.push_back(info);
  }
  {
    OptimizerInfo info = row("Rprop");
    info.convergence_kwargs = Dict{{"lr", 0.01}};
    info.optim_inputs = configs({{},
                                 {{"lr", 2e-4}},
                                 {{"etas", pair(0.5, 1.5)}},
                                 {{"step_sizes", pair(2e-6, 100)}},
                                 {{"maximize", true}}},
                                1e-2);
    info.error_inputs = common_errors(
        "Rprop", {constructor_error("etas out of order", Dict{{"lr", 1e-2}, {"etas", pair(1.0, 0.5)}},
                                    "Invalid eta values: 1.0, 0.5")});
    add_capturable_error(info.error_inputs);
    info.not_og_supported_flags = {"foreach", "differentiable", "maximize", "capturable", "fused"};
    // As PyTorch: step sizes may shrink to 0, so a 1e-28 lr group stays put.
    info.param_groups_lr_kwargs = Dict{{"step_sizes", pair(0.0, 50.0)}};
    info.skips["hyper-parameters are read from the group at every step"] =
        "Rprop reads lr once, into each param's step_size state";
    info.differentiable_configs = {{{"lr", 0.9}}, {{"lr", 0.9}, {"maximize", true}}};
    info.differentiable_state = differentiable_state({"prev", "step_size"});
    rows.push_back(info);
  }
}

}  // namespace descent::testing
