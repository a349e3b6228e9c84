#pragma once
// The generic optimizer test suite's registry, after PyTorch's OptimizerInfo
// (torch/testing/_internal/common_optimizers.py): one row per optimizer says
// which implementations and features it supports, which configurations the
// tests run and which inputs must fail. Every test in tests/test_optim*.cpp
// loops over optim_db(), so adding an optimizer means adding a row here (and
// its keyword row in optim/registry.cpp), and no behaviour is tested for only
// one optimizer. Also holds what those tests share: configuration expansion,
// Python-literal parsing for fixtures, comparison with tolerances, the small
// problems they optimise.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "descent/autograd/nn.h"
#include "descent/descent.h"
#include "descent/optim/registry.h"

namespace descent::testing {

using optim::Optimizer;
using optim::ParamGroup;
using optim::Params;

enum class ErrorOn { Constructor, Step };

// |actual - expected| <= atol + rtol |expected|, elementwise.
struct Tolerance {
  double rtol, atol;
};
enum class ErrorKind { ValueError, TypeError, RuntimeError, Warning };

// An input that must raise (or warn): PyTorch's ErrorOptimizerInput.
struct ErrorInput {
  std::string description;
  // The params argument; unset: one 1x1 float32 tensor.
  std::function<Params()> params;
  Dict kwargs;
  ErrorOn on = ErrorOn::Constructor;
  ErrorKind kind = ErrorKind::ValueError;
  std::string fragment;  // must occur in the message
  // For step errors: prepares grads of the (default) params before step().
  std::function<void(Optimizer&)> before_step;
};

struct OptimizerInfo {
  std::string name;
  // optim_inputs_func: the configurations the generic tests run, for a dtype.
  std::function<std::vector<Dict>(Dtype)> optim_inputs;
  // Inputs specific to this optimizer; global_error_inputs() adds the shared ones.
  std::vector<ErrorInput> error_inputs;
  // Implementation flags the constructor accepts: "foreach", "fused", "differentiable".
  std::set<std::string> supported_impls;
  // Parameter dtypes the fused implementation supports on the CPU.
  std::vector<Dtype> fused_dtypes;
  bool supports_sparse = false;
  bool only_supports_sparse_grads = false;
  bool supports_complex = true;
  // Only 2-D params (Muon): the generic tests give such a row 2-D shapes
  // (shape_for) and leave out the params that are not 2-D (params_for), as
  // PyTorch's tests optimise only the weight for it.
  bool only_2d_params = false;
  // A boolean option of the row (the global "not a bool" error input).
  std::string bool_option = "maximize";
  // Decays params by default, even without a gradient (AdamW, Muon).
  bool decays_by_default = false;
  bool step_requires_closure = false;
  bool supports_param_groups = true;
  bool has_capturable_arg = false;
  // Adam/AdamW reject a tensor lr with foreach=True unless capturable.
  bool foreach_rejects_tensor_lr = false;
  // fused=True keeps `step` in float32 whatever the default dtype (Adam's
  // fused kernels); the others keep the forloop's counter.
  bool fused_step_is_float32 = false;
  // Per-parameter state is created by the constructor (Adagrad), not by the first step.
  bool state_at_construction = false;
  // One global state kept under the first param, created by every step,
  // grads or not (LBFGS).
  bool state_on_first_param = false;
  // fused runs the forloop's op sequence: equal bit for bit in float32/float64.
  bool fused_bitwise = false;
  // Settings a user would pick for the analytic problems (test_optim_convergence).
  Dict convergence_kwargs;
  // Extra options of the other group in test_param_groups_lr.
  Dict param_groups_lr_kwargs;
  // Options under which a step creates state (SGD: momentum).
  Dict stateful_config;
  // Whether per-parameter state holds a `step` counter.
  bool has_step_state = false;
  // metadata_for_sparse: kwargs for test_rosenbrock_sparse (empty: no sparse
  // support) and the schedulers it runs with_lrsched (ReduceLROnPlateau is
  // stepped with the loss).
  Dict sparse_kwargs;
  std::function<std::vector<std::unique_ptr<optim::lr::LRScheduler>>(Optimizer&)> sparse_schedulers;
  // Group keys older releases lacked (test_can_load_older_state_dict).
  std::vector<std::string> not_og_supported_flags{"foreach", "differentiable", "maximize", "capturable"};
  // TestDifferentiableOptimizer: configs (differentiable=True added) and the
  // per-parameter state a step starts from, for a float64 param of `shape`.
  std::vector<Dict> differentiable_configs;
  std::function<Dict(const Shape& shape, Generator& gen)> differentiable_state;
  // Golden-trajectory tolerances where the row's defaults (test_optim_golden)
  // are too tight for a reason the row states.
  std::map<Dtype, Tolerance> golden_tolerance;
  // Tolerance of fused float16/bfloat16 parity (test_fused_matches_forloop).
  double fused_half_tolerance = 5e-3;
  // test_complex_2d's tolerance where it is not the complex64 default.
  std::optional<Tolerance> complex_2d_tolerance;
  // test_peak_memory_foreach: how many param-sized intermediates a foreach
  // step may hold beyond the forloop's peak (PyTorch's budget for this
  // optimizer), without and with maximize.
  int foreach_intermediates = 1;
  int foreach_intermediates_maximize = 1;
  // Tests this optimizer skips, with the reason (PyTorch's DecorateInfo skips).
  std::map<std::string, std::string> skips;

  bool supports(const std::string& impl) const { return supported_impls.count(impl) > 0; }
  bool skips_test(const std::string& test) const { return skips.count(test) > 0; }
};

const std::vector<OptimizerInfo>& optim_db();
// The rows of the pointwise optimizers (tests/optim_info_pointwise.cpp).
void add_pointwise_rows(std::vector<OptimizerInfo>& rows);
// LBFGS's row (tests/optim_info_lbfgs.cpp).
void add_lbfgs_row(std::vector<OptimizerInfo>& rows);
// The rows of Adafactor and Muon (tests/optim_info_matrix.cpp).
void add_matrix_rows(std::vector<OptimizerInfo>& rows);

// A param shape the row accepts: `shape` itself, or for 2-D-only rows a 2-D
// shape of as many elements ({n} -> {n, 1}, {} -> {1, 1}, {a, b, c} -> {a, b·c}).
Shape shape_for(const OptimizerInfo& info, const Shape& shape);
// The params of `params` the row optimises: all, or for 2-D-only rows the 2-D ones.
std::vector<Tensor> params_for(const OptimizerInfo& info, const std::vector<Tensor>& params);

// Shared by the rows' files: one 1x1 float32 param; grads for step errors;
// the errors of the implementation flags; a float64 state tensor that
// requires grad (differentiable tests).
Tensor sample_param();
void sparse_grads(Optimizer& opt);
void dense_grads(Optimizer& opt);
std::vector<ErrorInput> fused_flag_errors();
Tensor state_tensor(const Shape& shape, Generator& gen);
// The rows a test runs for: those whose `skips` do not name it.
std::vector<std::reference_wrapper<const OptimizerInfo>> rows_for(const std::string& test);
// The errors every optimizer shares (optimizers.md §16), then the row's own.
std::vector<ErrorInput> all_error_inputs(const OptimizerInfo& info);

// test-catalogue §0.2: each config with every supported flag False, then one
// copy per flag set True. Unlike PyTorch on the CPU this also adds
// foreach=True: descent's foreach path is its own code on every device.
// Flags in `skip` are left out; capturable configs are dropped (CPU).
std::vector<Dict> expanded_configs(const OptimizerInfo& info, Dtype dtype,
                                   const std::set<std::string>& skip = {});

// Short text of a config for failure messages: "{lr: 0.01, fused: True}".
std::string describe(const Dict& kwargs);
// Whether a config's flag is set to True.
bool flag_on(const Dict& kwargs, const std::string& key);

// Python literals of fixture configs: 1, 0.01, 1e-06, True, False, None,
// (0.8,0.9), 'text', tensor(0.01) (a 0-dim float32 tensor).
Value parse_python_literal(const std::string& text);

// Builds the optimizer of a row through the public by-name factory.
std::unique_ptr<Optimizer> make(const OptimizerInfo& info, Params params, const Dict& kwargs = {});

// One step as PyTorch's generic tests take it: step(closure) for a row that
// requires a closure (LBFGS calls it as often as it needs), else closure()
// then step(). Without a closure the grads already set are used; a row that
// requires one then gets a closure returning 1. Returns the closure's loss.
Tensor step_once(const OptimizerInfo& info, Optimizer& opt, const optim::Closure& closure = nullptr);

// ---- comparison ----
// The default assertEqual tolerances of test-catalogue §0.1.
Tolerance default_tolerance(Dtype dtype);
// "" when |a - b| <= atol + rtol |b| elementwise with equal shape and dtype,
// else a description of the first mismatch.
std::string mismatch(const Tensor& actual, const Tensor& expected, Tolerance tol);
// Largest |a - b| / max(|b|, tiny) over the elements (0 when bit-equal).
double max_relative_error(const Tensor& actual, const Tensor& expected);

// ---- problems ----
// The quadratic of many catalogue tests: loss = sum((W x + b)^2), with its
// gradient written into W.grad and b.grad by autograd.
struct Quadratic {
  Tensor weight, bias, input;
  // weight [out, in], bias [out], input [in], random with a fixed seed.
  Quadratic(int64_t out, int64_t in, Dtype dtype, uint64_t seed);
  Tensor loss() const;
  // zero_grad (to None), forward, backward; returns the loss. With
  // sparse_grads the grads are then made sparse (SparseAdam takes no others).
  Tensor closure(Optimizer& optimizer, bool sparse_grads = false) const;
};

// Linear(2,3) -> Sigmoid -> Linear(3,1) -> Sigmoid (test-catalogue §0.4).
struct Mlp {
  std::shared_ptr<nn::Sequential> model;
  // model.parameters(): 0.weight, 0.bias, 2.weight, 2.bias.
  std::vector<Tensor> params;
  Mlp(Dtype dtype, uint64_t seed);
  Tensor forward(const Tensor& input) const;
  // output.sum().backward() through a float32 copy for float16/bfloat16
  // (the grads are cast back), so every dtype gets autograd gradients.
  void backward(const Tensor& input);
};

// Rosenbrock (1 - x)^2 + 100 (y - x^2)^2 of a 2-vector, and its gradient.
double rosenbrock(const Tensor& xy);
std::pair<double, double> rosenbrock_grad(const Tensor& xy);

// Global hooks outlive a failing test unless removed: removes on scope exit.
struct HandleGuard {
  std::vector<optim::RemovableHandle> handles;
  ~HandleGuard() {
    for (auto& h : handles) h.remove();
  }
};

}  // namespace descent::testing
