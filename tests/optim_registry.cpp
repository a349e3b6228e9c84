#include "optim_registry.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace descent::testing {

Tensor sample_param() { return randn({1, 1}).requires_grad_(); }
Params one_param() { return Params{sample_param()}; }

Dict with(Dict kwargs, const std::string& key, Value value) {
  kwargs.set(key, std::move(value));
  return kwargs;
}

Tensor state_tensor(const Shape& shape, Generator& gen) {
  return rand(shape, {.dtype = kFloat64}, &gen).requires_grad_();
}

// Sets a sparse grad on every param of the optimizer (for step-time errors).
void sparse_grads(Optimizer& opt) {
  for (ParamGroup& g : opt.param_groups())
    for (Tensor& p : g.params)
      p.set_grad(sparse_coo_tensor(zeros({2, 1}, {.dtype = kInt64}), ones({1}), p.sizes()));
}
void dense_grads(Optimizer& opt) {
  for (ParamGroup& g : opt.param_groups())
    for (Tensor& p : g.params) p.set_grad(ones_like(p));
}

// Errors of the implementation flags, for every optimizer that has `fused`.
std::vector<ErrorInput> fused_flag_errors() {
  return {
      {"fused and foreach", nullptr, Dict{{"fused", true}, {"foreach", true}}, ErrorOn::Constructor,
       ErrorKind::RuntimeError, "`fused` and `foreach` cannot be `True` together"},
      {"fused and differentiable", nullptr, Dict{{"fused", true}, {"differentiable", true}},
       ErrorOn::Constructor, ErrorKind::RuntimeError, "`fused` does not support `differentiable`"},
      {"grad_scale without fused",
       nullptr,
       {},
       ErrorOn::Step,
       ErrorKind::RuntimeError,
       "Expected grad_scale and found_inf to be None",
       [](Optimizer& opt) {
         dense_grads(opt);
         opt.grad_scale = ones({1});
       }},
  };
}

namespace {

std::vector<ErrorInput> sgd_error_inputs() {
  std::vector<ErrorInput> errors{
      {"negative momentum", nullptr, Dict{{"lr", 1e-2}, {"momentum", -0.5}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "Invalid momentum value: -0.5"},
      {"negative lr", nullptr, Dict{{"lr", -0.5}}, ErrorOn::Constructor, ErrorKind::ValueError,
       "Invalid learning rate: -0.5"},
      {"negative weight_decay", nullptr, Dict{{"weight_decay", -0.1}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "Invalid weight_decay value: -0.1"},
      {"nesterov without momentum", nullptr, Dict{{"nesterov", true}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "Nesterov momentum requires a momentum and zero dampening"},
      {"nesterov with dampening", nullptr, Dict{{"nesterov", true}, {"momentum", 0.9}, {"dampening", 0.1}},
       ErrorOn::Constructor, ErrorKind::ValueError,
       "Nesterov momentum requires a momentum and zero dampening"},
      {"fused with sparse grads", nullptr, Dict{{"fused", true}}, ErrorOn::Step, ErrorKind::RuntimeError,
       "`fused` does not support sparse gradients", sparse_grads},
  };
  for (auto& e : fused_flag_errors()) errors.push_back(e);
  return errors;
}

std::vector<ErrorInput> adam_error_inputs() {
  Tensor t09 = scalar_tensor(0.9, {.dtype = kFloat32});
  Tensor t099 = scalar_tensor(0.99, {.dtype = kFloat32});
  std::vector<ErrorInput> errors{
      {"beta1 = 1", nullptr, Dict{{"lr", 1e-2}, {"betas", Value::tuple({1.0, 0.0})}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "Invalid beta parameter at index 0: 1.0"},
      {"beta2 = 1", nullptr, Dict{{"betas", Value::tuple({0.9, 1.0})}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "Invalid beta parameter at index 1: 1.0"},
      {"negative weight_decay", nullptr, Dict{{"lr", 1e-2}, {"weight_decay", -1}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "Invalid weight_decay value: -1"},
      {"negative eps", nullptr, Dict{{"eps", -1.0}}, ErrorOn::Constructor, ErrorKind::ValueError,
       "Invalid epsilon value: -1.0"},
      {"negative lr", nullptr, Dict{{"lr", -1e-2}}, ErrorOn::Constructor, ErrorKind::ValueError,
       "Invalid learning rate: -0.01"},
      {"tensor lr with foreach", nullptr,
       Dict{{"lr", scalar_tensor(0.001, {.dtype = kFloat32})}, {"foreach", true}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "lr as a Tensor is not supported for capturable=False and foreach=True"},
      {"float beta1, tensor beta2", nullptr, Dict{{"betas", Value::tuple({0.9, t099})}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "betas must be either both floats or both Tensors"},
      {"tensor beta1, float beta2", nullptr, Dict{{"betas", Value::tuple({t09, 0.99})}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "betas must be either both floats or both Tensors"},
      {"tensor betas with foreach", nullptr, Dict{{"betas", Value::tuple({t09, t099})}, {"foreach", true}},
       ErrorOn::Constructor, ErrorKind::ValueError,
       "betas[0] as a Tensor is not supported for capturable=False and foreach=True"},
      {"sparse grads",
       nullptr,
       {},
       ErrorOn::Step,
       ErrorKind::RuntimeError,
       "Adam does not support sparse gradients, please consider SparseAdam instead",
       sparse_grads},
      {"capturable on the CPU", nullptr, Dict{{"capturable", true}}, ErrorOn::Step, ErrorKind::RuntimeError,
       "If capturable=True, params and state_steps must be on supported devices", dense_grads},
  };
  for (auto& e : fused_flag_errors()) errors.push_back(e);
  return errors;
}

std::vector<Dict> sgd_inputs(Dtype) {
  return {{},
          {{"lr", 1e-2}},
          {{"lr", scalar_tensor(0.001, {.dtype = kFloat32})}},
          {{"weight_decay", 0.5}},
          {{"momentum", 0.9}},
          {{"weight_decay", 0.1}, {"maximize", true}},
          {{"momentum", 0.9}, {"dampening", 0.5}},
          {{"momentum", 0.9}, {"weight_decay", 0.1}},
          {{"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 0.1}}};
}

// Adam's CPU configs (optimizers.md §2) plus a tensor lr and decoupled decay,
// which PyTorch covers on other devices. float16 gets eps=0.1, as PyTorch.
std::vector<Dict> adam_inputs(Dtype dtype, bool is_adamw) {
  std::vector<Dict> configs{{},
                            {{"lr", 0.01}},
                            {{"weight_decay", 0.1}},
                            {{"weight_decay", 0.1}, {"maximize", true}},
                            {{"weight_decay", 0.1}, {"amsgrad", true}},
                            // beta1 < 0.5: exp_avg's lerp interpolates from the end.
                            {{"betas", Value::tuple({0.2, 0.99})}, {"amsgrad", true}, {"maximize", true}},
                            {{"lr", scalar_tensor(0.01, {.dtype = kFloat32})}}};
  if (!is_adamw) configs.push_back({{"weight_decay", 0.1}, {"decoupled_weight_decay", true}});
  if (dtype == kFloat16)
    for (Dict& c : configs) c.set("eps", 0.1);
  return configs;
}

// State tensors a differentiable step is checked through (they require grad).

Dict sgd_differentiable_state(const Shape& shape, Generator& gen) {
  return Dict{{"momentum_buffer", state_tensor(shape, gen)}};
}

Dict adam_differentiable_state(const Shape& shape, Generator& gen) {
  return Dict{{"step", scalar_tensor(10.0, {.dtype = kFloat64})},
              {"exp_avg", state_tensor(shape, gen)},
              {"exp_avg_sq", state_tensor(shape, gen)},
              {"max_exp_avg_sq", state_tensor(shape, gen)}};
}

// SparseAdam takes sparse grads only: the generic tests that step with dense
// grads skip it (PyTorch converts them with to_sparse() in some of these;
// test_forloop_goes_right_direction does so here, test_optim_sparse.cpp
// holds SparseAdam's golden trajectories).
OptimizerInfo sparse_adam_row() {
  OptimizerInfo info;
  info.name = "SparseAdam";
  info.optim_inputs = [](Dtype) {
    return std::vector<Dict>{{},
                             {{"lr", 0.01}},
                             {{"lr", scalar_tensor(0.001, {.dtype = kFloat32})}},
                             {{"maximize", true}}};
  };
  auto sparse_param = [] {
    return sparse_coo_tensor(zeros({1, 0}, {.dtype = kInt64}), zeros({0}), {3});
  };
  info.error_inputs = {
      {"beta1 = 1", nullptr, Dict{{"lr", 1e-2}, {"betas", Value::tuple({1.0, 0.0})}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "Invalid beta parameter at index 0: 1.0"},
      {"lr = 0 (must be > 0)", nullptr, Dict{{"lr", 0.0}}, ErrorOn::Constructor, ErrorKind::ValueError,
       "Invalid learning rate: 0.0"},
      {"eps = 0 (must be > 0)", nullptr, Dict{{"eps", 0.0}}, ErrorOn::Constructor, ErrorKind::ValueError,
       "Invalid epsilon value: 0.0"},
      {"dense params required", [=] { return Params{sample_param(), sparse_param()}; }, {},
       ErrorOn::Constructor, ErrorKind::ValueError,
       "Sparse params at indices [[0, 1]]: SparseAdam requires dense parameter tensors"},
      {"dense params required in param_groups",
       [=] { return Params{ParamGroup({sample_param()}), ParamGroup({sparse_param()})}; }, {},
       ErrorOn::Constructor, ErrorKind::ValueError,
       "Sparse params at indices [[1, 0]]: SparseAdam requires dense parameter tensors"},
      {"complex not supported", [] { return Params{zeros({2, 3}, {.dtype = kComplex64}).requires_grad_()}; }, {},
       ErrorOn::Constructor, ErrorKind::ValueError,
       "Complex params at indices [[0, 0]]: SparseAdam does not support complex parameters"},
      {"dense grads", nullptr, {}, ErrorOn::Step, ErrorKind::RuntimeError,
       "SparseAdam does not support dense gradients, please consider Adam instead", dense_grads},
  };
  info.only_supports_sparse_grads = true;
  info.supports_complex = false;
  info.sparse_kwargs = Dict{{"lr", 4e-2}};
  info.not_og_supported_flags = {"maximize"};
  const char* dense = "SparseAdam does not support dense gradients (PyTorch: #116507)";
  for (const char* test :
       {"test_param_group_with_lrscheduler_goes_right_direction", "test_tensor_lr", "test_param_groups_weight_decay", "test_param_groups_lr",
        "test_non_empty_state", "test_step_iteration", "convergence",
        "golden", "test_step_pre_hook", "test_step_post_hook", "test_step_all_hooks",
        "hyper-parameters are read from the group at every step",
        "the default implementation equals the forloop bit for bit",
        "step(closure) returns the closure's loss and records only what it should",
        "an undefined state tensor raises at the next step", "test_save_load_equality_with_weights_only",
        "test_load_nontensor_step", "load_state_dict casts state to the param's dtype, except step",
        "a failed load_state_dict leaves the optimizer exactly as it was"})
    info.skips[test] = dense;
  return info;
}

}  // namespace

const std::vector<OptimizerInfo>& optim_db() {
  static const std::vector<OptimizerInfo> db = [] {
    std::vector<OptimizerInfo> rows;
    std::vector<Dtype> fused_dtypes{kFloat64, kFloat32, kFloat16, kBFloat16};

    OptimizerInfo sgd;
    sgd.name = "SGD";
    sgd.optim_inputs = sgd_inputs;
    sgd.error_inputs = sgd_error_inputs();
    sgd.supported_impls = {"foreach", "fused", "differentiable"};
    sgd.fused_dtypes = fused_dtypes;
    sgd.supports_sparse = true;
    sgd.sparse_kwargs =
        Dict{{"lr", 4.8e-3}, {"maximize", false}, {"momentum", 0}, {"nesterov", false}, {"weight_decay", 0}};
    sgd.sparse_schedulers = [](Optimizer& opt) {
      std::vector<std::unique_ptr<optim::lr::LRScheduler>> s;
      s.push_back(std::make_unique<optim::lr::StepLR>(opt, 300, 0.99999));
      return s;
    };
    sgd.not_og_supported_flags = {"foreach", "differentiable", "maximize", "fused"};
    sgd.differentiable_configs = {
        {{"lr", 0.9}},
        {{"lr", 0.9}, {"momentum", 0.9}, {"dampening", 0.2}},
        {{"lr", 0.9}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 0.1}, {"maximize", true}}};
    sgd.differentiable_state = sgd_differentiable_state;
    sgd.stateful_config = Dict{{"momentum", 0.9}};
    sgd.fused_bitwise = true;
    sgd.convergence_kwargs = Dict{{"lr", 1e-3}, {"momentum", 0.9}};
    rows.push_back(sgd);

    OptimizerInfo adam;
    adam.name = "Adam";
    adam.optim_inputs = [](Dtype d) { return adam_inputs(d, false); };
    adam.error_inputs = adam_error_inputs();
    adam.supported_impls = {"foreach", "fused", "differentiable"};
    adam.fused_dtypes = fused_dtypes;
    adam.has_capturable_arg = true;
    adam.foreach_rejects_tensor_lr = true;
    adam.fused_step_is_float32 = true;
    adam.fused_bitwise = true;
    adam.convergence_kwargs = Dict{{"lr", 0.02}};
    adam.has_step_state = true;
    adam.not_og_supported_flags = {"foreach",    "differentiable", "maximize",
                                   "capturable", "fused",          "decoupled_weight_decay"};
    adam.differentiable_configs = {{{"lr", 0.9}, {"amsgrad", true}},
                                   {{"lr", 0.9}, {"weight_decay", 0.1}, {"maximize", true}},
                                   {{"lr", 0.9}, {"weight_decay", 0.1}, {"amsgrad", true}}};
    adam.differentiable_state = adam_differentiable_state;
    rows.push_back(adam);

    OptimizerInfo adamw = adam;
    adamw.name = "AdamW";
    adamw.decays_by_default = true;
    adamw.optim_inputs = [](Dtype d) { return adam_inputs(d, true); };
    adamw.error_inputs.push_back(
        {"decoupled_weight_decay is not an AdamW argument", nullptr, Dict{{"decoupled_weight_decay", false}},
         ErrorOn::Constructor, ErrorKind::ValueError,
         "AdamW: unexpected keyword argument 'decoupled_weight_decay'"});
    adamw.not_og_supported_flags = {"foreach", "differentiable", "maximize", "capturable", "fused"};
    rows.push_back(adamw);
    add_pointwise_rows(rows);
    add_lbfgs_row(rows);
    add_matrix_rows(rows);
    rows.push_back(sparse_adam_row());
    return rows;
  }();
  return db;
}

std::vector<std::reference_wrapper<const OptimizerInfo>> rows_for(const std::string& test) {
  std::vector<std::reference_wrapper<const OptimizerInfo>> rows;
  for (const OptimizerInfo& info : optim_db())
    if (!info.skips_test(test)) rows.emplace_back(info);
  return rows;
}

std::vector<ErrorInput> all_error_inputs(const OptimizerInfo& info) {
  // Python's `params=<a single tensor>` does not compile in C++ (Params has no
  // constructor from one Tensor); `params=None` is an empty list here.
  std::vector<ErrorInput> errors{
      {"duplicate params in a group",
       [] {
         Tensor p = sample_param();
         return Params{p, p};
       },
       {},
       ErrorOn::Constructor,
       ErrorKind::Warning,
       "a parameter group with duplicate parameters"},
      {"a param in two groups",
       [] {
         Tensor p = sample_param();
         return Params{ParamGroup({p}), ParamGroup({p})};
       },
       {},
       ErrorOn::Constructor,
       ErrorKind::ValueError,
       "some parameters appear in more than one parameter group"},
      {"no params, 2-element tensor lr: the option error wins", [] { return Params(std::vector<Tensor>{}); },
       Dict{{"lr", tensor<double>({0.001, 0.001}, {.dtype = kFloat32})}}, ErrorOn::Constructor,
       ErrorKind::ValueError, "Tensor lr must be 1-element"},
      {"some names missing",
       [] {
         ParamGroup g({sample_param(), sample_param()});
         g.param_names = std::vector<std::string>{"weight"};
         return Params{g};
       },
       {},
       ErrorOn::Constructor,
       ErrorKind::ValueError,
       "all optimizer params should be with/without names. Some param names are missing"},
      {"named group after an unnamed one",
       [] {
         return Params{ParamGroup({sample_param()}, Dict{{"lr", 1e-2}}),
                       ParamGroup(std::vector<std::pair<std::string, Tensor>>{{"weight", sample_param()}})};
       },
       {},
       ErrorOn::Constructor,
       ErrorKind::ValueError,
       "all optimizer param groups should be with/without names. cannot add param group with names to the "
       "optimizer"},
      {"unnamed group after a named one",
       [] {
         return Params{ParamGroup(std::vector<std::pair<std::string, Tensor>>{{"weight", sample_param()}}),
                       ParamGroup({sample_param()})};
       },
       {},
       ErrorOn::Constructor,
       ErrorKind::ValueError,
       "cannot add param group without names to the optimizer"},
      {"empty parameter list",
       [] { return Params(std::vector<Tensor>{}); },
       {},
       ErrorOn::Constructor,
       ErrorKind::ValueError,
       "optimizer got an empty parameter list"},
      {"an undefined tensor",
       [] { return Params{Tensor()}; },
       {},
       ErrorOn::Constructor,
       ErrorKind::TypeError,
       "optimizer can only optimize Tensors"},
      {"a non-leaf tensor",
       [] { return Params{sample_param().mul(2.0)}; },
       {},
       ErrorOn::Constructor,
       ErrorKind::ValueError,
       "can't optimize a non-leaf Tensor"},
      {"an unknown keyword", nullptr, Dict{{"foo", 1}}, ErrorOn::Constructor, ErrorKind::ValueError,
       info.name + ": unexpected keyword argument 'foo'"},
      {"a flag that is not a bool", nullptr, Dict{{info.bool_option, 1}}, ErrorOn::Constructor,
       ErrorKind::TypeError, "'" + info.bool_option + "' must be bool"},
  };
  for (const ErrorInput& e : info.error_inputs) errors.push_back(e);
  for (ErrorInput& e : errors)
    if (!e.params) e.params = one_param;
  return errors;
}

Shape shape_for(const OptimizerInfo& info, const Shape& shape) {
  if (!info.only_2d_params || shape.size() == 2) return shape;
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {shape[0], 1};
  return {shape[0], numel_of(shape) / std::max<int64_t>(shape[0], 1)};
}

std::vector<Tensor> params_for(const OptimizerInfo& info, const std::vector<Tensor>& params) {
  if (!info.only_2d_params) return params;
  std::vector<Tensor> out;
  for (const Tensor& p : params)
    if (p.dim() == 2) out.push_back(p);
  return out;
}

bool flag_on(const Dict& kwargs, const std::string& key) {
  const Value* v = kwargs.find(key);
  return v && v->is_bool() && v->to_bool();
}

std::vector<Dict> expanded_configs(const OptimizerInfo& info, Dtype dtype,
                                   const std::set<std::string>& skip) {
  std::vector<std::string> flags;
  for (const char* flag : {"foreach", "fused", "differentiable"})
    if (info.supports(flag) && !skip.count(flag)) flags.emplace_back(flag);
  bool fused_ok =
      std::find(info.fused_dtypes.begin(), info.fused_dtypes.end(), dtype) != info.fused_dtypes.end();
  std::vector<Dict> out;
  for (const Dict& config : info.optim_inputs(dtype)) {
    if (flag_on(config, "capturable")) continue;
    if (flags.empty()) {
      out.push_back(config);
      continue;
    }
    Dict base = config;
    for (const auto& f : flags) base.set(f, false);
    out.push_back(base);
    for (const auto& f : flags) {
      if (f == "fused" && !fused_ok) continue;
      // Adam rejects a tensor lr with foreach on the CPU (not capturable).
      const Value* lr = config.find("lr");
      if (f == "foreach" && lr && lr->is_tensor() && info.foreach_rejects_tensor_lr) continue;
      out.push_back(with(base, f, true));
    }
  }
  return out;
}

std::string describe(const Dict& kwargs) {
  std::string out = "{";
  for (const auto& [key, value] : kwargs) {
    if (out.size() > 1) out += ", ";
    out += std::get<std::string>(key) + ": " +
           (value.is_tensor() ? "tensor(" + format_double(value.to_double()) + ")" : value.str());
  }
  return out + "}";
}

Value parse_python_literal(const std::string& text) {
  if (text == "True") return true;
  if (text == "False") return false;
  if (text == "None") return Value();
  if (text.size() >= 2 && (text.front() == '\'' || text.front() == '"') && text.back() == text.front())
    return text.substr(1, text.size() - 2);
  if (text.rfind("tensor(", 0) == 0 && text.back() == ')')
    return scalar_tensor(std::strtod(text.c_str() + 7, nullptr), {.dtype = kFloat32});
  if (!text.empty() && (text.front() == '(' || text.front() == '[')) {
    std::vector<Value> items;
    std::string inner = text.substr(1, text.size() - 2);
    std::size_t start = 0;
    while (start < inner.size()) {
      std::size_t comma = inner.find(',', start);
      if (comma == std::string::npos) comma = inner.size();
      if (comma > start) items.push_back(parse_python_literal(inner.substr(start, comma - start)));
      start = comma + 1;
    }
    return text.front() == '(' ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  char* end = nullptr;
  if (text.find_first_of(".eEn") == std::string::npos) {
    long long i = std::strtoll(text.c_str(), &end, 10);
    if (end && *end == '\0' && !text.empty()) return static_cast<int64_t>(i);
  }
  double d = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0')
    raise<ValueError>("fixture config: cannot parse Python literal '", text, "'");
  return d;
}

std::unique_ptr<Optimizer> make(const OptimizerInfo& info, Params params, const Dict& kwargs) {
  return optim::make_optimizer(info.name, std::move(params), kwargs);
}

Tensor step_once(const OptimizerInfo& info, Optimizer& opt, const optim::Closure& closure) {
  if (info.step_requires_closure)
    return opt.step(closure ? closure : [] { return tensor<double>({1.0}, {.dtype = kFloat32}); });
  Tensor loss = closure ? closure() : Tensor();
  opt.step();
  return loss;
}

Tolerance default_tolerance(Dtype dtype) {
  switch (dtype) {
    case kFloat16:
      return {1e-3, 1e-5};
    case kBFloat16:
      return {1.6e-2, 1e-5};
    case kFloat64:
    case kComplex128:
      return {1e-7, 1e-7};
    default:
      return {1.3e-6, 1e-5};
  }
}

namespace {
std::vector<double> values_of(const Tensor& t) {
  Tensor d = t.detach();
  if (d.is_complex()) d = view_as_real(d);
  return d.to_vector<double>();
}
}  // namespace

std::string mismatch(const Tensor& actual, const Tensor& expected, Tolerance tol) {
  if (actual.dtype() != expected.dtype())
    return "dtype " + to_string(actual.dtype()) + " != " + to_string(expected.dtype());
  if (actual.sizes() != expected.sizes())
    return "shape " + shape_to_string(actual.sizes()) + " != " + shape_to_string(expected.sizes());
  auto a = values_of(actual), e = values_of(expected);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    double diff = std::abs(a[i] - e[i]);
    if (a[i] == e[i] || diff <= tol.atol + tol.rtol * std::abs(e[i])) continue;
    std::ostringstream out;
    out.precision(17);
    out << "element " << i << ": " << a[i] << " vs expected " << e[i] << " (diff " << diff << ")";
    return out.str();
  }
  return "";
}

double max_relative_error(const Tensor& actual, const Tensor& expected) {
  auto a = values_of(actual), e = values_of(expected);
  double worst = 0;
  for (std::size_t i = 0; i < a.size() && i < e.size(); ++i)
    if (a[i] != e[i])
      worst = std::max(worst,
                       std::abs(a[i] - e[i]) / std::max(std::abs(e[i]), std::numeric_limits<double>::min()));
  return worst;
}

Quadratic::Quadratic(int64_t out, int64_t in, Dtype dtype, uint64_t seed) {
  Generator gen(seed);
  weight = randn({out, in}, {.dtype = kFloat64}, &gen).to(dtype).requires_grad_();
  bias = randn({out}, {.dtype = kFloat64}, &gen).to(dtype).requires_grad_();
  input = randn({in}, {.dtype = kFloat64}, &gen).to(dtype);
}

Tensor Quadratic::loss() const {
  Tensor r = weight.matmul(input) + bias;
  return (r * r).sum();
}

Tensor Quadratic::closure(Optimizer& optimizer, bool sparse_grads) const {
  optimizer.zero_grad();
  Tensor l = loss();
  l.backward();
  if (sparse_grads)
    for (Tensor p : {weight, bias}) p.set_grad(p.grad().to_sparse());
  return l;
}

Mlp::Mlp(Dtype dtype, uint64_t seed) {
  Generator gen(seed);
  model = std::make_shared<nn::Sequential>(nn::Linear(2, 3, {.generator = &gen}), nn::Sigmoid(),
                                           nn::Linear(3, 1, {.generator = &gen}), nn::Sigmoid());
  model->to(dtype);
  params = model->parameters();
}

Tensor Mlp::forward(const Tensor& input) const { return model->forward(input); }

void Mlp::backward(const Tensor& input) {
  Dtype dtype = params[0].dtype();
  if (dtype != kFloat16 && dtype != kBFloat16) {
    forward(input).sum().backward();
    return;
  }
  // The same network on float32 copies; a frozen layer stays frozen.
  std::vector<Tensor> p;
  for (const Tensor& t : params) p.push_back(t.detach().to(kFloat32).requires_grad_(t.requires_grad()));
  Tensor h = (input.to(kFloat32).matmul(p[0].t()) + p[1]).sigmoid();
  (h.matmul(p[2].t()) + p[3]).sigmoid().sum().backward();
  for (std::size_t i = 0; i < params.size(); ++i)
    if (params[i].requires_grad()) params[i].set_grad(p[i].grad().to(dtype));
}

double rosenbrock(const Tensor& xy) {
  auto v = xy.to_vector<double>();
  return (1 - v[0]) * (1 - v[0]) + 100 * (v[1] - v[0] * v[0]) * (v[1] - v[0] * v[0]);
}

std::pair<double, double> rosenbrock_grad(const Tensor& xy) {
  auto v = xy.to_vector<double>();
  return {-400 * v[0] * (v[1] - v[0] * v[0]) - 2 * (1 - v[0]), 200 * (v[1] - v[0] * v[0])};
}

}  // namespace descent::testing
