// Implementation parity and the features some rows have: foreach and fused
// against the forloop reference (test-catalogue §0.4), fused-only behaviour
// (lazy dtype check, found_inf), complex params, sparse gradients.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>

#include "descent/autograd/autograd.h"
#include "descent/optim/lr_scheduler.h"
#include "descent/tensor/memory_stats.h"
#include "optim/pointwise_ops.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

std::map<std::string, double>& parity_deviations() {
  static std::map<std::string, double> d;
  return d;
}

// Checks `actual` against `expected`, then copies expected into actual so the
// next iteration starts equal (PyTorch's TensorTracker.pop_check_set).
void check_and_set(const Tensor& actual, const Tensor& expected, Tolerance tol, double& worst) {
  std::string diff = mismatch(actual.detach(), expected.detach(), tol);
  CHECK_MESSAGE(diff.empty(), diff);
  worst = std::max(worst, max_relative_error(actual, expected));
  autograd::NoGradGuard no_grad;
  actual.detach().copy_(expected.detach());
}

// test-catalogue §0.4 (_test_derived_optimizers + _compare_between): the same
// 7 iterations with `flag` False and True; grads None at iteration 2, the
// second layer frozen at iterations 3 and 4; params and state compared after
// every iteration.
void compare_derived(const OptimizerInfo& info, Dict config, const std::string& flag, Dtype dtype,
                     Tolerance tol) {
  INFO(info.name, " ", describe(config), " ", flag, " ", to_string(dtype));
  double& worst = parity_deviations()[info.name + " " + flag + " " + to_string(dtype)];
  Tensor input = tensor<double>({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {3, 2}).to(dtype);
  struct Run {
    Mlp mlp;
    std::vector<Tensor> params;
    std::unique_ptr<Optimizer> opt;
  };
  std::vector<Run> runs;
  for (bool on : {false, true}) {
    Mlp mlp(dtype, 1);
    // The reference is the forloop, named explicitly (with neither flag the
    // default may be another implementation); "default" sets no flag.
    for (const char* impl : {"foreach", "fused"})
      if (info.supports(impl)) config.set(impl, false);
    if (on && flag == "default") {
      config.erase("foreach");
      config.erase("fused");
    } else if (on) {
      config.set(flag, true);
    }
    // A one-element 0-dim param whose grad is set only once (PyTorch issue 100701).
    Generator gen(17);
    Tensor extra = rand({}, {.dtype = kFloat64}, &gen).to(dtype).requires_grad_();
    extra.set_grad(rand({}, {.dtype = kFloat64}, &gen).to(dtype));
    std::vector<Tensor> params = mlp.params;
    params.push_back(extra);
    params = params_for(info, params);
    auto opt = make(info, Params(params), config);
    runs.push_back({mlp, params, std::move(opt)});
  }
  std::vector<Tensor> initial;
  for (const Tensor& p : runs[0].params) initial.push_back(p.detach().clone());
  for (int i = 0; i < 7; ++i) {
    for (Run& run : runs) {
      run.opt->zero_grad();
      if (i == 3 || i == 5)
        for (int k : {2, 3}) run.mlp.params[static_cast<std::size_t>(k)].requires_grad_(i == 5);
      if (i != 2) run.mlp.backward(input);
      run.opt->step();
    }
    INFO("iteration ", i);
    for (std::size_t k = 0; k < runs[0].params.size(); ++k) {
      const Tensor& expected = runs[0].params[k];
      check_and_set(runs[1].params[k], expected, tol, worst);
      const Dict* ref_state = runs[0].opt->state().find(expected);
      const Dict* state = runs[1].opt->state().find(runs[1].params[k]);
      REQUIRE((ref_state == nullptr) == (state == nullptr));
      if (!ref_state) continue;
      REQUIRE(ref_state->size() == state->size());
      for (const auto& [key, value] : *ref_state) {
        INFO("state ", key_to_string(key));
        REQUIRE(state->contains(key));
        if (!value.is_tensor()) {
          CHECK(state->at(key) == value);
          continue;
        }
        // `step` is float32 whatever the implementation (CPU; fused: param device).
        CHECK(state->at(key).to_tensor().dtype() == value.to_tensor().dtype());
        check_and_set(state->at(key).to_tensor(), value.to_tensor(), tol, worst);
      }
    }
  }
  // The comparison means something only if the steps moved the model. The
  // extra param never steps (zero_grad clears its grad before the first
  // step, as in PyTorch); in float16/bfloat16 most lr·grad are below one ulp.
  bool half = dtype == kFloat16 || dtype == kBFloat16;
  std::size_t moved = 0;
  for (std::size_t k = 0; k < runs[0].params.size(); ++k) {
    if (runs[0].params[k].dim() == 0) continue;  // the extra param
    bool m = !equal(runs[0].params[k].detach(), initial[k]);
    moved += m;
    if (!half) CHECK_MESSAGE(m, "param ", k, " never moved");
  }
  CHECK(moved > 0);
}

std::vector<Dict> cpu_inputs(const OptimizerInfo& info, Dtype dtype) {
  std::vector<Dict> out;
  for (const Dict& c : info.optim_inputs(dtype))
    if (!flag_on(c, "capturable")) out.push_back(c);
  return out;
}

void print_deviations(const char* what) {
  std::printf("largest relative deviation, %s:\n", what);
  for (const auto& [key, worst] : parity_deviations()) std::printf("  %-26s %.3g\n", key.c_str(), worst);
  parity_deviations().clear();
}

}  // namespace

TEST_CASE("test_foreach_matches_forloop") {
  for (const OptimizerInfo& info : rows_for("test_foreach_matches_forloop")) {
    if (!info.supports("foreach")) continue;
    for (Dict config : cpu_inputs(info, kFloat64)) {
      // Adam rejects a tensor lr with foreach (not capturable on the CPU).
      const Value* lr = config.find("lr");
      if (lr && lr->is_tensor() && info.foreach_rejects_tensor_lr) continue;
      compare_derived(info, config, "foreach", kFloat64, default_tolerance(kFloat64));
    }
  }
  print_deviations("foreach vs forloop");
}

// descent's default (neither foreach nor fused given) runs the fastest
// implementation whose results are the forloop's: bit for bit, here.
TEST_CASE("the default implementation equals the forloop bit for bit") {
  for (const OptimizerInfo& info : rows_for("the default implementation equals the forloop bit for bit")) {
    if (!info.supports("foreach") && !info.supports("fused")) continue;  // one implementation only
    for (Dtype dtype : {kFloat32, kFloat64})
      for (const Dict& config : cpu_inputs(info, dtype)) compare_derived(info, config, "default", dtype, {0, 0});
  }
  print_deviations("default vs forloop");
}

// Where the fused kernel runs the forloop's op sequence (every row that says
// so), fused equals the forloop exactly in float32 and float64.
TEST_CASE("fused equals the forloop bit for bit") {
  for (const OptimizerInfo& info : optim_db()) {
    if (!info.supports("fused") || !info.fused_bitwise) continue;
    for (Dtype dtype : {kFloat32, kFloat64})
      for (const Dict& config : cpu_inputs(info, dtype)) compare_derived(info, config, "fused", dtype, {0, 0});
  }
  print_deviations("fused vs forloop, exact");
}

TEST_CASE("test_fused_matches_forloop") {
  for (const OptimizerInfo& info : rows_for("test_fused_matches_forloop")) {
    if (!info.supports("fused")) continue;
    for (Dtype dtype : info.fused_dtypes)
      for (const Dict& config : cpu_inputs(info, dtype)) {
        bool half = dtype == kFloat16 || dtype == kBFloat16;
        Tolerance tol =
            half ? Tolerance{info.fused_half_tolerance, info.fused_half_tolerance} : default_tolerance(dtype);
        compare_derived(info, config, "fused", dtype, tol);
      }
  }
  print_deviations("fused vs forloop");
}

// C++ analogue of params on the "meta" device: integer params are not
// floating point; the check is lazy (at the first step), and the optimizer
// works once the params hold floating point data.
TEST_CASE("test_fused_error_on_params_on_meta") {
  for (const OptimizerInfo& info : rows_for("test_fused_error_on_params_on_meta")) {
    if (!info.supports("fused")) continue;
    INFO(info.name);
    std::vector<Tensor> params{zeros({2, 3}, {.dtype = kInt64}), zeros({3}, {.dtype = kInt64})};
    std::unique_ptr<Optimizer> opt;
    REQUIRE_NOTHROW(opt = make(info, Params(params), Dict{{"fused", true}}));
    for (Tensor& p : params) p.set_grad(ones_like(p));
    CHECK_THROWS_WITH_AS(
        opt->step(), doctest::Contains("`fused=True` requires all the params to be floating point Tensors"),
        RuntimeError);
    // State made at construction keeps the integer dtype it was made with.
    if (info.state_at_construction) continue;
    opt->zero_grad(true);
    for (Tensor& p : params) {
      autograd::set_data(p, randn(p.sizes()));
      p.set_grad(randn(p.sizes()));
    }
    CHECK_NOTHROW(opt->step());
  }
}

TEST_CASE("test_fused_does_not_step_if_foundinf") {
  for (const OptimizerInfo& info : rows_for("test_fused_does_not_step_if_foundinf")) {
    if (!info.supports("fused")) continue;
    for (Dict config : cpu_inputs(info, kFloat32))
      for (bool with_scale : {true, false}) {
        INFO(info.name, " ", describe(config), " grad_scale: ", with_scale);
        config.set("fused", true);
        std::vector<Tensor> params;
        for (int i = 0; i < 5; ++i) params.push_back(ones({1}).requires_grad_());
        for (Tensor& p : params) p.set_grad(ones_like(p));
        auto opt = make(info, Params(params), config);
        if (with_scale) opt->grad_scale = ones({1});
        opt->found_inf = ones({});
        opt->step();
        for (const Tensor& p : params) {
          CHECK(equal(p.detach(), ones({1})));
          CHECK(equal(p.grad(), ones({1})));
          if (const Dict* state = opt->state().find(p)) {
            if (const Value* step = state->find("step")) CHECK(step->to_double() == 0.0);
            // A skipped step leaves no momentum behind (optimizer-base.md §9.2).
            const Value* buf = state->find("momentum_buffer");
            CHECK((!buf || buf->is_none()));
          }
        }
        // The next, unskipped step is a first step: it matches the forloop's first step.
        std::vector<Tensor> ref{ones({1}).requires_grad_()};
        ref[0].set_grad(ones({1}));
        Dict forloop = config;
        forloop.set("fused", false);
        auto ref_opt = make(info, Params(ref), forloop);
        ref_opt->step();
        opt->found_inf = zeros({});
        opt->step();
        for (const Tensor& p : params)
          CHECK(mismatch(p.detach(), ref[0].detach(), default_tolerance(kFloat32)) == "");
      }
  }
}

// The closures draw the grads (and a loss) for the real-view twin and hand
// the same values to the complex params, so a row that evaluates its closure
// several times per step (LBFGS) is compared at every evaluation too.
TEST_CASE("test_complex") {
  for (const OptimizerInfo& info : rows_for("test_complex")) {
    if (!info.supports_complex) continue;
    for (const Dict& config : expanded_configs(info, kComplex64, {"differentiable", "fused"})) {
      INFO(info.name, " ", describe(config));
      Generator gen(21);
      auto crandn = [&](const Shape& s) {
        return complex(randn(s, {}, &gen), randn(s, {}, &gen)).requires_grad_();
      };
      std::vector<Tensor> params{crandn({10, 5}), crandn({10}), randn({10, 5}, {}, &gen).requires_grad_()};
      std::vector<Tensor> real_params;
      for (const Tensor& p : params)
        real_params.push_back(
            (p.is_complex() ? view_as_real(p.detach()) : p.detach()).clone().requires_grad_());
      auto opt = make(info, Params(params), config);
      auto real_opt = make(info, Params(real_params), config);
      std::vector<Tensor> real_steps, complex_steps;
      std::deque<Tensor> grads_losses;
      auto real_closure = [&] {
        for (Tensor& p : real_params) {
          Tensor g = randn(p.sizes(), {}, &gen);
          p.set_grad(g);
          real_steps.push_back(p.detach().clone());
          grads_losses.push_back(g.clone());
        }
        Tensor loss = randn({1}, {}, &gen);
        grads_losses.push_back(loss.clone());
        return loss;
      };
      auto pop = [&] {
        REQUIRE_FALSE(grads_losses.empty());
        Tensor front = grads_losses.front();
        grads_losses.pop_front();
        return front;
      };
      auto complex_closure = [&] {
        for (Tensor& p : params) {
          Tensor g = pop();
          complex_steps.push_back((p.is_complex() ? view_as_real(p.detach()) : p.detach()).clone());
          p.set_grad(p.is_complex() ? view_as_complex(g) : g);
        }
        return pop();
      };
      for (int i = 0; i < 3; ++i) {
        step_once(info, *real_opt, real_closure);
        step_once(info, *opt, complex_closure);
        for (std::size_t k = 0; k < params.size(); ++k) {
          Tensor as_real = params[k].is_complex() ? view_as_real(params[k].detach()) : params[k].detach();
          std::string diff = mismatch(as_real, real_params[k].detach(), default_tolerance(kFloat32));
          CHECK_MESSAGE(diff.empty(), "param ", k, " iteration ", i, ": ", diff);
        }
      }
      CHECK(grads_losses.empty());
      REQUIRE(complex_steps.size() == real_steps.size());
      for (std::size_t k = 0; k < real_steps.size(); ++k) {
        std::string diff = mismatch(complex_steps[k], real_steps[k], default_tolerance(kFloat32));
        CHECK_MESSAGE(diff.empty(), "evaluation ", k, ": ", diff);
      }
    }
  }
}

TEST_CASE("test_complex_2d") {
  auto rosen = [](const Tensor& z) {
    Tensor x = z.select(0, 0), y = z.select(0, 1);
    Tensor a = 1.0 - x, b = y - x * x;
    return a * a + 100.0 * b * b;
  };
  for (const OptimizerInfo& info : rows_for("test_complex_2d")) {
    if (!info.supports_complex) continue;
    for (const Dict& config : expanded_configs(info, kComplex64, {"differentiable", "fused"})) {
      INFO(info.name, " ", describe(config));
      Generator gen(2024);
      Tensor a1 = complex(randn({2}, {}, &gen), randn({2}, {}, &gen)).requires_grad_();
      Tensor a1_real = real(a1.detach()).requires_grad_();
      Tensor a1_imag = imag(a1.detach()).requires_grad_();
      auto opt1 = make(info, Params{a1}, config);
      auto opt2 = make(info, Params{a1_real, a1_imag}, config);
      Tolerance tol = info.complex_2d_tolerance.value_or(default_tolerance(kComplex64));
      double worst = 0;
      Tensor start = a1.detach().clone();
      // What closure1 saw, checked against (and copied into) closure2's values in order.
      std::deque<Tensor> seen;
      auto closure1 = [&] {
        opt1->zero_grad();
        Tensor loss = rosen(a1).abs();
        loss.backward();
        for (const Tensor& t : {real(a1.detach()), imag(a1.detach()), real(a1.grad()), imag(a1.grad()), loss.detach()})
          seen.push_back(t.clone());
        return loss;
      };
      auto check_next = [&](const Tensor& actual) {
        REQUIRE_FALSE(seen.empty());
        check_and_set(actual, seen.front(), tol, worst);
        seen.pop_front();
      };
      auto closure2 = [&] {
        opt2->zero_grad();
        check_next(a1_real);
        check_next(a1_imag);
        Tensor loss = rosen(complex(a1_real, a1_imag)).abs();
        loss.backward();
        check_next(a1_real.grad());
        check_next(a1_imag.grad());
        check_next(loss.detach());
        return loss;
      };
      for (int i = 0; i < 3; ++i) {
        if (info.step_requires_closure) {
          opt1->step(closure1);
          opt2->step(closure2);
        } else {
          closure1();
          closure2();
          opt1->step();
          opt2->step();
        }
        check_and_set(a1_real, real(a1.detach()), tol, worst);
        check_and_set(a1_imag, imag(a1.detach()), tol, worst);
      }
      CHECK(seen.empty());
      CHECK_FALSE(equal(a1.detach(), start));
    }
  }
}

// Cyclic coordinate descent on Rosenbrock with uncoalesced sparse gradients
// (the value split 1/4 + 3/4 over a repeated index) against a dense twin;
// SparseAdam, which takes sparse grads only, is checked for progress alone.
TEST_CASE("test_rosenbrock_sparse") {
  for (const OptimizerInfo& info : rows_for("test_rosenbrock_sparse")) {
    if (!(info.supports_sparse || info.only_supports_sparse_grads)) continue;
    // PyTorch's selection: the configs without the sparse metadata's keys,
    // de-duplicated, empty ones dropped, then the metadata's lr.
    std::vector<Dict> configs;
    for (Dict c : expanded_configs(info, kFloat64, {"differentiable", "fused"})) {
      for (const auto& [key, value] : info.sparse_kwargs) c.erase(key);
      if (c.empty() || std::find(configs.begin(), configs.end(), Value(c)) != configs.end()) continue;
      configs.push_back(c);
    }
    for (Dict& c : configs)
      if (const Value* lr = info.sparse_kwargs.find("lr")) c.set("lr", *lr);
    CHECK_MESSAGE(!configs.empty(), info.name);
    for (const Dict& config : configs)
      for (bool with_lrsched : {false, true}) {
        if (with_lrsched && !info.sparse_schedulers) continue;
        INFO(info.name, " ", describe(config), " with_lrsched=", with_lrsched);
        const bool foreach = flag_on(config, "foreach");
        const bool twin = !info.only_supports_sparse_grads;
        // With foreach, a float64 second param makes two dtype buckets.
        std::vector<Tensor> sparse_params;
        for (Dtype dtype : {kFloat32, kFloat64})
          if (dtype == kFloat32 || foreach) sparse_params.push_back(tensor<double>({1.5, 1.5}, {.dtype = dtype}));
        std::vector<Tensor> dense_params;
        for (const Tensor& p : sparse_params) dense_params.push_back(p.clone());
        auto sparse_opt = make(info, Params(sparse_params), config);
        std::unique_ptr<Optimizer> dense_opt = twin ? make(info, Params(dense_params), config) : nullptr;
        std::vector<std::unique_ptr<optim::lr::LRScheduler>> schedulers, dense_schedulers;
        if (with_lrsched) {
          schedulers = info.sparse_schedulers(*sparse_opt);
          if (twin) dense_schedulers = info.sparse_schedulers(*dense_opt);
        }
        auto step_schedulers = [](auto& list, const Tensor& param) {
          for (auto& s : list)
            if (auto* plateau = dynamic_cast<optim::lr::ReduceLROnPlateau*>(s.get()))
              plateau->step(rosenbrock(param));
            else
              s->step();
        };
        double initial_distance = (sparse_params[0].to(kFloat64) - 1.0).norm().item<double>();
        for (int i = 0; i < 1800; ++i) {
          for (std::size_t k = 0; k < sparse_params.size(); ++k) {
            auto [gx, gy] = rosenbrock_grad(sparse_params[k]);
            int64_t index = i % 2 == 0 ? 1 : 0;
            double g = index == 0 ? gx : gy;
            Tensor values = tensor<double>({g / 4.0, g - g / 4.0}, {.dtype = sparse_params[k].dtype()});
            Tensor grad = sparse_coo_tensor(full({1, 2}, index, {.dtype = kInt64}), values, {2}, false);
            sparse_params[k].set_grad(grad);
            if (twin) dense_params[k].set_grad(grad.to_dense());
          }
          sparse_opt->step();
          step_schedulers(schedulers, sparse_params[0]);
          if (!twin) continue;
          dense_opt->step();
          step_schedulers(dense_schedulers, dense_params[0]);
          for (std::size_t k = 0; k < sparse_params.size(); ++k) {
            std::string diff = mismatch(sparse_params[k], dense_params[k], {5e-6, 5e-6});
            CHECK_MESSAGE(diff.empty(), "iteration ", i, ": ", diff);
            if (!diff.empty()) break;
          }
        }
        CHECK_FALSE(equal(sparse_params[0], tensor<double>({1.5, 1.5}, {.dtype = kFloat32})));
        if (flag_on(config, "maximize")) {
          CHECK(rosenbrock(sparse_params[0]) >= rosenbrock(tensor<double>({1.5, 1.5})));
        } else {
          CHECK((sparse_params[0].to(kFloat64) - 1.0).norm().item<double>() <= initial_distance);
        }
      }
  }
}

// CPU analogue of the 2-GPU test: params of every floating dtype (and an
// int64 tensor that never gets a grad) in one group, so foreach and fused
// split them into dtype buckets; flag off vs on within 5x the default
// tolerances.
TEST_CASE("test_mixed_device_dtype") {
  for (const OptimizerInfo& info : rows_for("test_mixed_device_dtype"))
    for (const char* flag : {"foreach", "fused"}) {
      if (!info.supports(flag)) continue;
      for (Dict config : cpu_inputs(info, kFloat32)) {
        const Value* lr = config.find("lr");
        if (std::string(flag) == "foreach" && lr && lr->is_tensor() && info.foreach_rejects_tensor_lr) continue;
        INFO(info.name, " ", describe(config), " ", flag);
        std::vector<Dtype> dtypes{kFloat64, kFloat32, kFloat16, kBFloat16};
        std::vector<std::vector<Tensor>> runs(2);
        std::vector<std::unique_ptr<Optimizer>> opts;
        for (int r = 0; r < 2; ++r) {
          Generator gen(8);
          for (Dtype d : dtypes)
            runs[r].push_back(randn({4, 3}, {.dtype = kFloat64}, &gen).to(d).requires_grad_());
          runs[r].push_back(zeros({3}, {.dtype = kInt64}));
          config.set(flag, r == 1);
          opts.push_back(make(info, Params(runs[r]), config));
        }
        int steps = std::string(flag) == "fused" ? 1 : 7;
        Generator grads(9);
        for (int i = 0; i < steps; ++i) {
          for (std::size_t k = 0; k < dtypes.size(); ++k) {
            Tensor g = randn({4, 3}, {.dtype = kFloat64}, &grads).to(dtypes[k]);
            runs[0][k].set_grad(g);
            runs[1][k].set_grad(g.clone());
          }
          opts[0]->step();
          opts[1]->step();
        }
        for (std::size_t k = 0; k < dtypes.size(); ++k) {
          Tolerance tol = default_tolerance(dtypes[k]);
          tol = {5 * tol.rtol, 5 * tol.atol};
          std::string diff = mismatch(runs[1][k].detach(), runs[0][k].detach(), tol);
          CHECK_MESSAGE(diff.empty(), to_string(dtypes[k]), ": ", diff);
          for (const auto& [key, value] : opts[0]->state()[runs[0][k]]) {
            if (!value.is_tensor()) continue;
            diff = mismatch(opts[1]->state()[runs[1][k]].at(key).to_tensor(), value.to_tensor(), tol);
            CHECK_MESSAGE(diff.empty(), to_string(dtypes[k]), " state ", key_to_string(key), ": ", diff);
          }
        }
      }
    }
}

// CPU analogue of test_set_default_dtype_works_with_foreach's step-dtype
// rule: `step` is float64 under a float64 default dtype, else float32;
// fused keeps float32 on the param's device.
TEST_CASE("test_set_default_dtype_works_with_foreach (step dtype)") {
  struct DefaultDtype {
    Dtype saved = get_default_dtype();
    explicit DefaultDtype(Dtype d) { set_default_dtype(d); }
    ~DefaultDtype() { set_default_dtype(saved); }
  };
  for (const OptimizerInfo& info : rows_for("test_set_default_dtype_works_with_foreach")) {
    if (!info.has_step_state) continue;
    for (Dtype default_dtype : {kFloat64, kFloat32})
      for (const Dict& config : expanded_configs(info, kFloat64, {"differentiable"})) {
        INFO(info.name, " ", describe(config), " default ", to_string(default_dtype));
        DefaultDtype guard(default_dtype);
        Tensor p = randn({3}, {.dtype = kFloat64}).requires_grad_();
        auto opt = make(info, Params{p}, config);
        p.set_grad(randn({3}, {.dtype = kFloat64}));
        opt->step();
        Dtype expected = flag_on(config, "fused") && info.fused_step_is_float32 ? kFloat32 : default_dtype;
        CHECK(opt->state()[p].at("step").to_tensor().dtype() == expected);
      }
  }
}

namespace {
// The most host bytes held during the second step of an optimizer over 10
// float32 16x8 params (PyTorch's sizes), with `flag` set as given.
int64_t second_step_peak(const OptimizerInfo& info, Dict config, const char* flag, bool on) {
  config.set(flag, on);
  Generator gen(3);
  std::vector<Tensor> params;
  for (int i = 0; i < 10; ++i) params.push_back(rand({16, 8}, {}, &gen));
  auto opt = make(info, Params(params), config);
  for (Tensor& p : params) p.set_grad(rand({16, 8}, {}, &gen));
  step_once(info, *opt);
  reset_peak_memory_stats(kCPU);
  step_once(info, *opt);
  return memory_stats(kCPU).peak_allocated;
}
}  // namespace

// The CPU form of the GPU test, through descent's storage accounting: a
// foreach step holds at most the row's budget of param-sized
// intermediates beyond the forloop's peak; a fused step holds no more than
// the forloop.
TEST_CASE("test_peak_memory_foreach") {
  const int64_t all_params = 10 * 16 * 8 * 4;
  int measured = 0;
  for (const OptimizerInfo& info : rows_for("test_peak_memory_foreach"))
    for (const char* flag : {"foreach", "fused"}) {
      if (!info.supports(flag)) continue;
      for (const Dict& config : cpu_inputs(info, kFloat32)) {
        if (std::string(flag) == "foreach" && info.foreach_rejects_tensor_lr && config.contains("lr") &&
            config.at("lr").is_tensor())
          continue;
        INFO(info.name, " ", describe(config), " ", std::string(flag));
        const int64_t forloop = second_step_peak(info, config, flag, false);
        const int64_t other = second_step_peak(info, config, flag, true);
        const int pytorch_budget = flag_on(config, "maximize") ? info.foreach_intermediates_maximize
                                                                 : info.foreach_intermediates;
        const int budget = std::string(flag) == "fused" ? 0 : pytorch_budget;
        CHECK_MESSAGE(other <= forloop + budget * all_params, std::string(flag), " peak ", other, " bytes, forloop ",
                      forloop, " bytes, budget ", budget, " x ", all_params);
        ++measured;
      }
    }
  CHECK(measured > 0);
}

// The foreach list ops write a fresh intermediate in place only where the
// out-of-place result has its dtype and shape; elsewhere they allocate, and
// the result is what the op gives without the reuse.
TEST_CASE("foreach list ops reuse an intermediate only where the result fits it") {
  auto fresh = [](const Tensor& t) { return TensorList{t.mul(1.0)}; };
  const Tensor f32 = tensor({1.0, 2.0, 3.0}).to(kFloat32);
  const Tensor small = tensor({1e-10, 2e-10, 3e-10}).to(kFloat64);

  SUBCASE("same dtype and shape: written in place") {
    TensorList a = fresh(f32);
    const void* where = a[0].data_ptr();
    TensorList out = descent::add(std::move(a), TensorList{f32});
    CHECK(out[0].data_ptr() == where);
    CHECK(equal(out[0], f32.mul(2.0)));
  }
  SUBCASE("a float64 operand promotes a float32 intermediate") {
    TensorList out = descent::add(fresh(f32), TensorList{small});
    CHECK(out[0].dtype() == kFloat64);
    CHECK(equal(out[0], f32.add(small)));
    CHECK_FALSE(equal(out[0], f32.to(kFloat64)));
  }
  SUBCASE("an operand that broadcasts the intermediate to a bigger shape") {
    const Tensor one = tensor({2.0}).to(kFloat32);
    TensorList out = descent::mul(fresh(one), TensorList{f32});
    CHECK(out[0].shape() == Shape{3});
    CHECK(equal(out[0], f32.mul(2.0)));
    TensorList sum = descent::addcmul(fresh(one), TensorList{f32}, TensorList{f32}, 1.0);
    CHECK(equal(sum[0], one.addcmul(f32, f32, 1.0)));
  }
  SUBCASE("a complex intermediate's abs is real") {
    const Tensor z = f32.to(kComplex64).mul(Scalar(std::complex<double>(0.0, 1.0)));
    TensorList out = descent::abs(fresh(z));
    CHECK(out[0].dtype() == kFloat32);
    CHECK(equal(out[0], f32));
  }
}
