// Convergence on analytic problems with known minima (ensmallen's style):
// every optimizer, with settings a user would pick (its row's
// convergence_kwargs), in float64 and float32, must bring each problem's loss
// far below where it started. No reference implementation is involved.
#include <doctest/doctest.h>

#include <cstdio>
#include <functional>

#include "descent/autograd/problems.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

struct Problem {
  const char* name;
  std::function<Tensor(const Tensor&)> loss;
  std::function<Tensor(Dtype)> start;
  int steps;
  double required_ratio;  // final loss / initial loss must be below this
};

double run(const OptimizerInfo& info, const Problem& problem, Dtype dtype) {
  // A 2-D-only row (Muon) optimises the point as an n x 1 matrix.
  const Tensor start = problem.start(dtype).detach();
  Tensor x = start.reshape(shape_for(info, start.sizes())).clone().requires_grad_();
  auto opt = make(info, Params{x}, info.convergence_kwargs);
  auto closure = [&] {
    opt->zero_grad();
    Tensor loss = problem.loss(x.view(start.sizes()));
    loss.backward();
    return loss;
  };
  for (int i = 0; i < problem.steps; ++i) opt->step(closure);
  return problem.loss(x.detach().view(start.sizes())).item<double>();
}

}  // namespace

TEST_CASE("convergence on Rosenbrock, an ill-conditioned quadratic and logistic regression") {
  problems::Rosenbrock rosenbrock;
  problems::Quadratic quadratic(10, 100.0, 3);
  problems::LogisticRegression logistic(200, 5, 1e-2, 7);
  const std::vector<Problem> all{
      {"Rosenbrock", [&](const Tensor& x) { return rosenbrock(x); },
       [&](Dtype d) { return rosenbrock.initial_point(d); }, 3000, 0.05},
      {"quadratic (condition 100)", [&](const Tensor& x) { return quadratic(x); },
       [&](Dtype d) { return quadratic.initial_point(d); }, 1000, 0.01},
      {"logistic regression", [&](const Tensor& w) { return logistic(w) - logistic.minimum(); },
       [&](Dtype d) { return logistic.initial_point(d); }, 1000, 0.25},
  };
  for (const OptimizerInfo& info : rows_for("convergence")) {
    if (info.step_requires_closure && info.convergence_kwargs.empty()) continue;
    for (const Problem& problem : all)
      for (Dtype dtype : {kFloat64, kFloat32}) {
        INFO(info.name, " ", describe(info.convergence_kwargs), " on ", problem.name, " ", to_string(dtype));
        Tensor start = problem.start(dtype);
        const double initial = problem.loss(start).item<double>();
        const double final_loss = run(info, problem, dtype);
        std::printf("%-9s %-26s %-8s loss %.3g -> %.3g\n", info.name.c_str(), problem.name,
                    to_string(dtype).c_str() + 6, initial, final_loss);
        CHECK(final_loss < problem.required_ratio * initial);
      }
  }
}
