// TestDifferentiableOptimizer (test/optim/test_optim.py, imported into the
// catalogue run): with differentiable=True one step is a differentiable
// function of the param, its grad and its state; gradcheck compares
// autograd's Jacobian of that function with finite differences (float64).
#include <doctest/doctest.h>

#include "descent/autograd/gradcheck.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

TEST_CASE("TestDifferentiableOptimizer: gradcheck through one step") {
  for (const OptimizerInfo& info : rows_for("TestDifferentiableOptimizer")) {
    if (!info.supports("differentiable") || !info.differentiable_state) continue;
    for (Dict config : info.differentiable_configs) {
      config.set("differentiable", true);
      INFO(info.name, " ", describe(config));
      Generator gen(42);
      Shape shape{10};
      Tensor p = rand(shape, {.dtype = kFloat64}, &gen).requires_grad_();
      Tensor grad = rand(shape, {.dtype = kFloat64}, &gen).requires_grad_();
      Dict state = info.differentiable_state(shape, gen);
      // gradcheck differentiates with respect to the inputs that require grad:
      // the param, its grad and the state tensors that require grad.
      std::vector<Tensor> inputs{p, grad};
      std::vector<std::string> keys;
      for (const auto& [key, value] : state)
        if (value.is_tensor() && value.to_tensor().requires_grad()) {
          keys.push_back(std::get<std::string>(key));
          inputs.push_back(value.to_tensor());
        }
      auto step = [&](const std::vector<Tensor>& in) {
        Tensor param = in[0].clone();
        param.set_grad(in[1]);
        auto opt = make(info, Params{param}, config);
        Dict& st = opt->state()[param];
        for (const auto& [key, value] : state)
          st.set(key, value.is_tensor() ? value.to_tensor().clone() : value);
        for (std::size_t i = 0; i < keys.size(); ++i) st.set(keys[i], in[2 + i].clone());
        opt->step();
        std::vector<Tensor> out{param};
        for (const std::string& key : keys) out.push_back(st.at(key).to_tensor());
        return out;
      };
      CHECK_NOTHROW(autograd::gradcheck(autograd::TensorsFn(step), inputs));
      // The same step without differentiable gives the same values.
      Dict plain = config;
      plain.set("differentiable", false);
      Tensor q = p.detach().clone();
      q.set_grad(grad.detach());
      auto opt = make(info, Params{q}, plain);
      for (const auto& [key, value] : state) opt->state()[q].set(key, value.to_tensor().detach().clone());
      opt->step();
      std::string diff = mismatch(step(inputs)[0].detach(), q, default_tolerance(kFloat64));
      CHECK_MESSAGE(diff.empty(), diff);
    }
  }
}
