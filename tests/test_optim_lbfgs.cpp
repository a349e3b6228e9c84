// What only a closure-driven optimizer with one global state has
// (optimizers.md §13): step(closure) semantics and its return value, the
// state it keeps under the first param and its state_dict round trip, the
// evaluation budget, convergence without a line search, and its errors.
// The generic suites (test_optim*.cpp) run LBFGS's registry row as well;
// its golden trajectories are replayed in test_optim_golden.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "descent/autograd/problems.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

std::unique_ptr<Optimizer> lbfgs(Params params, const Dict& kwargs = {}) {
  return optim::make_optimizer("LBFGS", std::move(params), kwargs);
}

// sum((W x + b)^2) through autograd, counting evaluations.
struct Counted {
  Quadratic q;
  int evals = 0;
  explicit Counted(Dtype dtype = kFloat64) : q(4, 3, dtype, 31) {}
  optim::Closure closure(Optimizer& opt) {
    return [this, &opt] {
      ++evals;
      return q.closure(opt);
    };
  }
};

}  // namespace

// test-catalogue #42: whether step returns at once (tolerance_grad = inf) or
// iterates (−inf), it returns the closure's tensor.
TEST_CASE("test_second_order_optims_return_consistent_types") {
  for (const OptimizerInfo& info : optim_db()) {
    if (!info.step_requires_closure) continue;
    for (Dtype dtype : {kFloat32, kFloat64})
      for (Dict config : info.optim_inputs(dtype)) {
        INFO(info.name, " ", describe(config), " ", to_string(dtype));
        std::vector<Tensor> params{randn({10, 5}, {.dtype = dtype}), randn({10}, {.dtype = dtype})};
        Tensor ten = tensor<double>({10.0}, {.dtype = dtype});
        auto closure = [&] { return ten; };
        config.set("tolerance_grad", std::numeric_limits<double>::infinity());
        auto opt_inf = make(info, Params(params), config);
        config.set("tolerance_grad", -std::numeric_limits<double>::infinity());
        auto opt_neg_inf = make(info, Params(params), config);
        Tensor res1 = opt_inf->step(closure);
        Tensor res2 = opt_neg_inf->step(closure);
        CHECK(res1.is_same(ten));
        CHECK(res2.is_same(ten));
        CHECK(res1.dtype() == res2.dtype());
      }
  }
}

TEST_CASE("LBFGS: step evaluates the closure many times and returns its first loss") {
  for (const char* search : {"", "strong_wolfe"}) {
    INFO("line_search_fn ", search);
    Counted c;
    Dict kwargs;
    if (*search) kwargs.set("line_search_fn", search);
    auto opt = lbfgs(Params{c.q.weight, c.q.bias}, kwargs);
    std::vector<Tensor> losses;
    auto closure = [&] {
      losses.push_back(c.q.closure(*opt));
      return losses.back();
    };
    Tensor returned = opt->step(closure);
    REQUIRE(losses.size() > 2);
    CHECK(returned.is_same(losses.front()));
    CHECK(losses.back().item<double>() < losses.front().item<double>());
    CHECK(opt->state()[c.q.weight].at("func_evals").to_int() == static_cast<int64_t>(losses.size()));
  }
}

TEST_CASE("LBFGS: defaults, max_eval = max_iter * 5 // 4, one group") {
  Tensor p = randn({3}).requires_grad_();
  auto opt = lbfgs(Params{p});
  Dict expected{{"lr", 1},
                {"max_iter", 20},
                {"max_eval", 25},
                {"tolerance_grad", 1e-7},
                {"tolerance_change", 1e-9},
                {"history_size", 100},
                {"line_search_fn", Value()},
                {"maximize", false}};
  CHECK(Value(opt->defaults()) == Value(expected));
  CHECK(opt->repr() ==
        "LBFGS (\nParameter Group 0\n    history_size: 100\n    line_search_fn: None\n    lr: 1\n    "
        "max_eval: 25\n    max_iter: 20\n    maximize: False\n    tolerance_change: 1e-09\n    "
        "tolerance_grad: 1e-07\n)");
  CHECK(lbfgs(Params{p}, Dict{{"max_iter", 10}})->defaults().at("max_eval") == Value(12));
  CHECK(lbfgs(Params{p}, Dict{{"max_iter", 1}})->defaults().at("max_eval") == Value(1));
  CHECK(lbfgs(Params{p}, Dict{{"max_iter", 7}, {"max_eval", 3}})->defaults().at("max_eval") == Value(3));
  // One group given as a group, with its own options, is fine.
  auto grouped = lbfgs(Params{ParamGroup({p}, Dict{{"lr", 0.5}})});
  CHECK(grouped->param_groups()[0].lr() == 0.5);
}

TEST_CASE("LBFGS: errors") {
  Tensor p = randn({3}).requires_grad_();
  CHECK_THROWS_WITH_AS(lbfgs(Params{ParamGroup({p}), ParamGroup({randn({2}).requires_grad_()})}),
                       doctest::Contains("LBFGS doesn't support per-parameter options (parameter groups)"),
                       ValueError);
  // Option errors win over params errors (checked before params are touched).
  CHECK_THROWS_WITH_AS(lbfgs(Params(std::vector<Tensor>{}), Dict{{"lr", -1.0}}),
                       doctest::Contains("Invalid learning rate: -1.0"), ValueError);
  auto opt = lbfgs(Params{p});
  CHECK_THROWS_WITH_AS(opt->step(), doctest::Contains("LBFGS.step() missing 1 required positional argument: 'closure'"),
                       TypeError);
  CHECK_THROWS_WITH_AS(opt->step([] { return Tensor(); }), doctest::Contains("the closure must return the loss"),
                       TypeError);
  // The line search is checked only where it would run: not when step returns at once.
  auto unknown = lbfgs(Params{p}, Dict{{"line_search_fn", "armijo"}});
  CHECK_NOTHROW(unknown->step([] { return tensor<double>({1.0}); }));  // p has no grad: optimal already
  p.set_grad(ones({3}));
  CHECK_THROWS_WITH_AS(unknown->step([] { return tensor<double>({1.0}); }),
                       doctest::Contains("only 'strong_wolfe' is supported"), RuntimeError);
  // max_eval = 0 leaves the line search no evaluation (PyTorch: UnboundLocalError).
  auto no_budget = lbfgs(Params{p}, Dict{{"line_search_fn", "strong_wolfe"}, {"max_eval", 0}});
  CHECK_THROWS_WITH_AS(no_budget->step([] { return tensor<double>({1.0}); }),
                       doctest::Contains("no evaluation left"), RuntimeError);
  // A loaded state that claims iterations but lacks their history.
  auto broken = lbfgs(Params{p});
  broken->state()[p] = Dict{{"func_evals", 3}, {"n_iter", 2}};
  CHECK_THROWS_WITH_AS(broken->step([] { return tensor<double>({1.0}); }), doctest::Contains("lacks the history"),
                       KeyError);
  // history_size grown past the stored `al` list (one entry, three pairs by the next iteration).
  Tensor q = randn({3}).requires_grad_();
  q.set_grad(ones({3}));
  auto grown = lbfgs(Params{q});
  grown->state()[q] = Dict{{"func_evals", 1},
                           {"n_iter", 1},
                           {"al", Value::list({Value()})},
                           {"d", ones({3})},
                           {"t", 1.0},
                           {"old_dirs", Value::list({ones({3}), ones({3})})},
                           {"old_stps", Value::list({ones({3}), ones({3})})},
                           {"ro", Value::list({1.0, 1.0})},
                           {"H_diag", 1},
                           {"prev_flat_grad", zeros({3})},
                           {"prev_loss", 1.0}};
  CHECK_THROWS_WITH_AS(grown->step([] { return tensor<double>({1.0}); }),
                       doctest::Contains("state 'al' has 1 entries for 3 history pairs"), IndexError);
}

TEST_CASE("LBFGS: state lives under the first param with PyTorch's keys") {
  Counted c;
  // Three iterations per step: far from converged after the first.
  auto opt = lbfgs(Params{c.q.weight, c.q.bias}, Dict{{"history_size", 5}, {"max_iter", 3}, {"lr", 0.1}});
  opt->step(c.closure(*opt));
  REQUIRE(opt->state().size() == 1);
  const Dict& st = opt->state()[c.q.weight];
  CHECK(st.keys() == std::vector<Key>{std::string("func_evals"), std::string("n_iter"), std::string("al"),
                                      std::string("d"), std::string("t"), std::string("old_dirs"),
                                      std::string("old_stps"), std::string("ro"), std::string("H_diag"),
                                      std::string("prev_flat_grad"), std::string("prev_loss")});
  CHECK(st.at("func_evals").to_int() == c.evals);
  CHECK(st.at("n_iter").is_int());
  const int64_t flat = c.q.weight.numel() + c.q.bias.numel();
  CHECK(st.at("d").to_tensor().sizes() == Shape{flat});
  CHECK(st.at("prev_flat_grad").to_tensor().sizes() == Shape{flat});
  CHECK(st.at("al").to_list().items.size() == 5);
  const std::size_t pairs = st.at("old_dirs").to_list().items.size();
  CHECK(pairs >= 1);
  CHECK(pairs <= 2);
  CHECK(st.at("old_stps").to_list().items.size() == pairs);
  CHECK(st.at("ro").to_list().items.size() == pairs);
  CHECK(st.at("H_diag").is_tensor());
  CHECK(st.at("prev_loss").is_double());
  // A second step continues the counters.
  const int64_t n_iter = st.at("n_iter").to_int();
  opt->step(c.closure(*opt));
  CHECK(opt->state()[c.q.weight].at("n_iter").to_int() > n_iter);
  CHECK(opt->state()[c.q.weight].at("func_evals").to_int() == c.evals);
}

TEST_CASE("LBFGS: nothing to optimise returns the closure's loss and keeps no state") {
  auto opt = lbfgs(Params{ParamGroup(std::vector<Tensor>{}, Dict{{"lr", 1.0}})});
  Tensor loss = tensor<double>({2.0});
  CHECK(opt->step([&] { return loss; }).is_same(loss));
  CHECK(opt->state().size() == 0);
}

// As PyTorch's: the search may use what is left of max_eval after its first
// trial, so a step makes at most max_eval + 1 evaluations.
TEST_CASE("LBFGS: the line search stays within max_eval (plus its first trial)") {
  for (int64_t max_eval : {1, 2, 5, 9}) {
    INFO("max_eval ", max_eval);
    Counted c;
    auto opt = lbfgs(Params{c.q.weight, c.q.bias},
                     Dict{{"line_search_fn", "strong_wolfe"}, {"max_iter", 50}, {"max_eval", max_eval}});
    opt->step(c.closure(*opt));
    CHECK(c.evals <= max_eval + 1);
    if (max_eval == 1) CHECK(c.evals == 2);  // PyTorch 2.15 evaluates twice as well
    CHECK(opt->state()[c.q.weight].at("func_evals").to_int() == c.evals);
  }
}

TEST_CASE("LBFGS: state_dict round trip resumes identically") {
  for (const char* search : {"", "strong_wolfe"}) {
    INFO("line_search_fn ", search);
    Dict kwargs{{"history_size", 3}, {"max_iter", 4}};
    if (*search) kwargs.set("line_search_fn", search);
    Counted a, b;
    auto opt_a = lbfgs(Params{a.q.weight, a.q.bias}, kwargs);
    for (int i = 0; i < 2; ++i) opt_a->step(a.closure(*opt_a));
    {
      autograd::NoGradGuard no_grad;
      b.q.weight.copy_(a.q.weight);
      b.q.bias.copy_(a.q.bias);
    }
    auto opt_b = lbfgs(Params{b.q.weight, b.q.bias}, kwargs);
    // Through the checkpoint format too: lists, None and ints survive it.
    opt_b->load_state_dict(deserialize(serialize(Value(opt_a->state_dict()))).to_dict());
    CHECK(Value(opt_b->state_dict()) == Value(opt_a->state_dict()));
    for (int i = 0; i < 3; ++i) {
      opt_a->step(a.closure(*opt_a));
      opt_b->step(b.closure(*opt_b));
      CHECK(equal(a.q.weight, b.q.weight));
      CHECK(equal(a.q.bias, b.q.bias));
    }
    CHECK(Value(opt_b->state_dict()) == Value(opt_a->state_dict()));
  }
}

// Without a line search, with settings a user would pick (the generic
// convergence test runs strong_wolfe).
TEST_CASE("LBFGS converges without a line search on Rosenbrock and an ill-conditioned quadratic") {
  problems::Rosenbrock rosenbrock;
  problems::Quadratic quadratic(10, 100.0, 3);
  for (Dtype dtype : {kFloat64, kFloat32}) {
    INFO(to_string(dtype));
    auto run = [&](const std::function<Tensor(const Tensor&)>& f, Tensor x, const Dict& kwargs, int steps) {
      x = x.detach().clone().requires_grad_();
      auto opt = lbfgs(Params{x}, kwargs);
      const double initial = f(x.detach()).item<double>();
      for (int i = 0; i < steps; ++i)
        opt->step([&] {
          opt->zero_grad();
          Tensor loss = f(x);
          loss.backward();
          return loss;
        });
      return f(x.detach()).item<double>() / initial;
    };
    CHECK(run([&](const Tensor& x) { return quadratic(x); }, quadratic.initial_point(dtype), {}, 10) < 1e-6);
    CHECK(run([&](const Tensor& x) { return rosenbrock(x); }, rosenbrock.initial_point(dtype), Dict{{"lr", 0.1}},
              50) < 1e-3);
  }
}
