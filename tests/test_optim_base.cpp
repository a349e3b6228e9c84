// Base-class behaviour shared by every optimizer (optimizer-base.md §1-§5),
// run for every registry row: param groups and their errors, defaults
// merging, zero_grad, step and its closure, grad mode, step hooks
// (test-catalogue #38-#40).
#include <algorithm>

#include <doctest/doctest.h>

#include "descent/autograd/grad_mode.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {
Tensor leaf(const Shape& shape) { return randn(shape).requires_grad_(); }
// A param of that shape, or of a 2-D one for rows that take 2-D params only.
Tensor leaf(const OptimizerInfo& info, const Shape& shape) { return leaf(shape_for(info, shape)); }
}  // namespace

TEST_CASE("add_param_group errors and warnings") {
  for (const OptimizerInfo& info : optim_db()) {
    INFO(info.name);
    Tensor a = leaf(info, {2}), b = leaf(info, {3});
    auto opt = make(info, Params{a});
    {
      WarningCapture warnings;
      Tensor c = leaf(info, {2});
      opt->add_param_group(ParamGroup({c, c}));
      CHECK(warnings.contains("a parameter group with duplicate parameters"));
      // The group is still added, duplicate included.
      CHECK(opt->param_groups().back().params.size() == 2);
    }
    CHECK_THROWS_WITH_AS(opt->add_param_group(ParamGroup({b, a})),
                         doctest::Contains("some parameters appear in more than one parameter group"),
                         ValueError);
    CHECK_THROWS_WITH_AS(opt->add_param_group(ParamGroup({leaf(info, {2}).mul(3.0)})),
                         doctest::Contains("can't optimize a non-leaf Tensor"), ValueError);
    CHECK_THROWS_WITH_AS(opt->add_param_group(ParamGroup({Tensor()})),
                         doctest::Contains("optimizer can only optimize Tensors"), TypeError);
    CHECK_THROWS_WITH_AS(
        opt->add_param_group(ParamGroup(std::vector<std::pair<std::string, Tensor>>{{"w", b}})),
        doctest::Contains("cannot add param group with names to the optimizer"), ValueError);
    // A failed add_param_group adds nothing.
    CHECK(opt->param_groups().size() == 2);

    auto named = make(info, Params(std::vector<std::pair<std::string, Tensor>>{{"a", leaf(info, {2})}}));
    CHECK_THROWS_WITH_AS(named->add_param_group(ParamGroup({b})),
                         doctest::Contains("cannot add param group without names to the optimizer"),
                         ValueError);
    CHECK_NOTHROW(named->add_param_group(ParamGroup(std::vector<std::pair<std::string, Tensor>>{{"b", b}})));
    CHECK(*named->param_groups()[1].param_names == std::vector<std::string>{"b"});
  }
}

TEST_CASE("param groups inherit the defaults they do not set") {
  for (const OptimizerInfo& info : optim_db()) {
    if (!info.supports_param_groups) continue;
    INFO(info.name);
    Tensor a = leaf(info, {2}), b = leaf(info, {2}), c = leaf(info, {2});
    // Group 0 sets lr to the class default (1e-3): "set to the default value"
    // is not "unset", so it keeps 1e-3 although the constructor says 0.5.
    auto opt = make(info, Params{ParamGroup({a}, Dict{{"lr", 1e-3}}), ParamGroup({b})}, Dict{{"lr", 0.5}});
    CHECK(opt->param_groups()[0].lr() == 1e-3);
    CHECK(opt->param_groups()[1].lr() == 0.5);
    // Every default key is present in every group, user keys are kept.
    opt->add_param_group(ParamGroup({c}, Dict{{"custom", "kept"}}));
    for (const ParamGroup& g : opt->param_groups())
      for (const auto& [key, value] : opt->defaults()) CHECK(g.contains(std::get<std::string>(key)));
    CHECK(opt->param_groups()[2].at("custom") == Value("kept"));
    CHECK(opt->param_groups()[2].lr() == 0.5);
    CHECK(opt->defaults().at("lr") == Value(0.5));
  }
}

TEST_CASE("zero_grad: set_to_none and in place") {
  for (const OptimizerInfo& info : optim_db()) {
    INFO(info.name);
    Tensor a = leaf(info, {3}), b = leaf(info, {2}), c = leaf(info, {2});
    auto opt = make(info, Params{a, b, c});
    a.set_grad(ones_like(a));
    Shape values = b.sizes();
    values[0] = 1;
    b.set_grad(sparse_coo_tensor(zeros({1, 1}, {.dtype = kInt64}), ones(values), b.sizes()));
    opt->zero_grad(false);
    Tensor grad = a.grad();
    CHECK(grad.defined());
    CHECK(equal(grad, zeros_like(a)));
    CHECK_FALSE(grad.requires_grad());
    CHECK(b.grad().defined());
    CHECK(equal(b.grad().to_dense(), zeros_like(b)));
    CHECK_FALSE(c.grad().defined());
    // In place: the same tensor object is zeroed.
    a.mutable_grad().fill_(2.0);
    opt->zero_grad(false);
    CHECK(a.grad().is_same(grad));
    CHECK(equal(grad, zeros_like(a)));
    opt->zero_grad();
    CHECK_FALSE(a.grad().defined());
    CHECK_FALSE(b.grad().defined());
  }
}

TEST_CASE("step(closure) returns the closure's loss and records only what it should") {
  for (const OptimizerInfo& info : rows_for("step(closure) returns the closure's loss and records only what it should")) {
    INFO(info.name);
    Tensor p = leaf(info, {3});
    auto opt = make(info, Params{p});
    Tensor loss = tensor<double>({10.0});
    bool recording = false;
    Tensor returned;
    {
      autograd::NoGradGuard no_grad;
      returned = opt->step([&] {
        recording = autograd::is_grad_enabled();
        p.set_grad(ones_like(p));
        return loss;
      });
      // The caller's mode is restored.
      CHECK_FALSE(autograd::is_grad_enabled());
    }
    CHECK(recording);
    CHECK(returned.is_same(loss));
    if (info.step_requires_closure) {
      CHECK_THROWS_WITH_AS(opt->step(), doctest::Contains("missing 1 required positional argument: 'closure'"),
                           TypeError);
    } else {
      CHECK_FALSE(opt->step().defined());
    }
    // A non-differentiable update is never recorded, whatever the caller's mode.
    CHECK(p.is_leaf());
    CHECK(p.grad_fn() == nullptr);
    // A step that raised is not counted.
    CHECK(opt->step_count() == (info.step_requires_closure ? 1 : 2));
  }
}

TEST_CASE("differentiable=True keeps the update in the graph") {
  for (const OptimizerInfo& info : optim_db()) {
    if (!info.supports("differentiable")) continue;
    INFO(info.name);
    Tensor w = leaf(info, {3});
    Tensor p = w.clone();
    auto opt = make(info, Params{p}, Dict{{"differentiable", true}});
    p.set_grad(ones_like(p));
    {
      autograd::NoGradGuard no_grad;
      opt->step();
    }
    CHECK(p.grad_fn() != nullptr);
    p.sum().backward();
    CHECK(w.grad().defined());
  }
}

// A state entry holding an undefined tensor (a hostile or broken checkpoint
// can carry one) raises on the next step and changes nothing.
TEST_CASE("an undefined state tensor raises at the next step") {
  for (const OptimizerInfo& info : rows_for("an undefined state tensor raises at the next step"))
    for (const char* impl : {"forloop", "foreach", "fused"}) {
      if (std::string(impl) != "forloop" && !info.supports(impl)) continue;
      Dict config = info.stateful_config;
      if (info.supports("foreach")) config.set("foreach", false);
      if (info.supports("fused")) config.set("fused", false);
      if (std::string(impl) != "forloop") config.set(impl, true);
      Tensor a = leaf(info, {3});
      auto opt = make(info, Params{a}, config);
      a.set_grad(ones_like(a));
      step_once(info, *opt);
      Dict* st = opt->state().find(a);
      REQUIRE(st != nullptr);
      for (const Key& key : st->keys()) {
        if (!st->at(key).is_tensor()) continue;
        INFO(info.name, " ", impl, " ", key_to_string(key));
        auto copy = make(info, Params{a}, config);
        copy->load_state_dict(opt->state_dict());
        copy->state()[a].set(key, Tensor());
        Tensor before = a.detach().clone();
        CHECK_THROWS_AS(step_once(info, *copy), Error);
        CHECK(equal(a.detach(), before));
      }
    }
}

// A `step` counter that is not one element raises before anything changes,
// also on the fused path (which advances counters in its checked pass).
TEST_CASE("a step counter of several elements raises and changes nothing") {
  for (const OptimizerInfo& info : optim_db())
    for (const char* impl : {"forloop", "fused"}) {
      if (!info.has_step_state || (std::string(impl) == "fused" && !info.supports("fused"))) continue;
      INFO(info.name, " ", impl);
      Dict config = info.stateful_config;
      config.set("foreach", false);
      if (info.supports("fused")) config.set("fused", std::string(impl) == "fused");
      Tensor a = leaf(info, {3}), b = leaf(info, {3});
      auto opt = make(info, Params{a, b}, config);
      a.set_grad(ones_like(a));
      b.set_grad(ones_like(b));
      opt->step();
      opt->state()[b].set("step", zeros({3}));
      Tensor a_before = a.detach().clone(), b_before = b.detach().clone();
      const int64_t a_version = a._version();
      const double a_step = opt->state()[a].at("step").to_double();
      CHECK_THROWS_AS(opt->step(), Error);
      CHECK(equal(a.detach(), a_before));
      CHECK(equal(b.detach(), b_before));
      if (std::string(impl) == "fused") {
        CHECK(a._version() == a_version);
        CHECK(opt->state()[a].at("step").to_double() == a_step);
      }
    }
}

// Every grad is checked before any param changes, on every implementation.
TEST_CASE("a step whose second param has a bad grad changes nothing") {
  for (const OptimizerInfo& info : optim_db())
    for (const char* impl : {"forloop", "foreach", "fused"}) {
      if (std::string(impl) != "forloop" && !info.supports(impl)) continue;
      INFO(info.name, " ", impl);
      Tensor a = leaf(info, {3}), b = leaf(info, {4});
      Dict config = info.stateful_config;
      if (std::string(impl) != "forloop") config.set(impl, true);
      auto opt = make(info, Params{a, b}, config);
      a.set_grad(ones_like(a));
      b.mutable_grad() = ones({1});  // assigned past set_grad's shape check
      Tensor a_before = a.detach().clone();
      const int64_t version = a._version();
      CHECK_THROWS_AS(step_once(info, *opt), RuntimeError);
      CHECK(equal(a.detach(), a_before));
      CHECK(a._version() == version);
      const Dict* st = opt->state().find(a);
      if (st)
        if (const Value* step = st->find("step")) CHECK(step->to_double() == 0.0);
    }
}

// What a pointwise optimizer declares (the bench's bytes moved and the
// checks of a loaded state dict read it) is what its steps create: the same
// keys, each tensor of the shape its rule gives for the param. A vector and
// a matrix: Adafactor factors a matrix's second moment into Rows and Columns.
TEST_CASE("declared_state names exactly the state a step creates") {
  for (const OptimizerInfo& info : optim_db())
    for (const Dict& config : expanded_configs(info, kFloat64)) {
      if (flag_on(config, "differentiable")) continue;  // the same state; its leaf params cannot step in place
      for (const Shape& shape : {Shape{3}, Shape{3, 4}}) {
        Tensor a = leaf(info, shape);
        auto opt = make(info, Params{a}, config);
        const auto* pointwise = dynamic_cast<const optim::PointwiseOptimizer*>(opt.get());
        if (pointwise == nullptr) break;
        INFO(info.name, " ", describe(config), " ", shape_to_string(a.sizes()));
        a.set_grad(ones_like(a));
        step_once(info, *opt);
        a.set_grad(ones_like(a));
        step_once(info, *opt);
        const Dict* st = opt->state().find(a);
        std::set<std::string> declared, held;
        for (const auto& entry : pointwise->declared_state(a)) {
          INFO(entry.key);
          declared.insert(entry.key);
          REQUIRE(st != nullptr);
          const Value* v = st->find(entry.key);
          REQUIRE(v != nullptr);
          if (v->is_tensor())
            CHECK(v->to_tensor().sizes() == optim::state_shape(entry.shape, a.sizes()));
          else  // a host scalar kept as a number
            CHECK(entry.shape == optim::StateShape::Scalar);
        }
        if (st)
          for (const Key& key : st->keys()) held.insert(std::get<std::string>(key));
        CHECK(held == declared);
        const std::string stranger = opt->name() + ".declared_state: the tensor of shape " +
                                     shape_to_string(a.sizes()) + " is not a param of this optimizer";
        CHECK_THROWS_WITH_AS(pointwise->declared_state(leaf(info, shape)), doctest::Contains(stranger.c_str()),
                             ValueError);
      }
    }
}

// Each param's entries come from its own group's options.
TEST_CASE("declared_state reads the options of the param's group") {
  Tensor a = leaf({3}), b = leaf({3});
  optim::Adam adam(Params{ParamGroup({a}), ParamGroup({b}, Dict{{"amsgrad", true}})});
  auto keys = [&](const Tensor& p) {
    std::vector<std::string> out;
    for (const auto& entry : adam.declared_state(p)) out.push_back(entry.key);
    return out;
  };
  CHECK(keys(a) == std::vector<std::string>{"step", "exp_avg", "exp_avg_sq"});
  CHECK(keys(b) == std::vector<std::string>{"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"});
  CHECK_THROWS_WITH_AS(adam.declared_state(Tensor()),
                       doctest::Contains("Adam.declared_state: the tensor (undefined) is not a param"), ValueError);
}

TEST_CASE("state_shape: Rows and Columns set the last or second-to-last dim to 1, for 2 dims or more") {
  using optim::StateShape;
  CHECK(optim::state_shape(StateShape::Scalar, {3, 4}) == Shape{});
  CHECK(optim::state_shape(StateShape::LikeParam, {3, 4}) == Shape{3, 4});
  CHECK(optim::state_shape(StateShape::Rows, {2, 3, 4}) == Shape{2, 3, 1});
  CHECK(optim::state_shape(StateShape::Columns, {2, 3, 4}) == Shape{2, 1, 4});
  CHECK(optim::state_shape(StateShape::LikeParam, {}) == Shape{});
  CHECK_THROWS_WITH_AS(optim::state_shape(StateShape::Rows, {5}),
                       doctest::Contains("state_shape: Rows needs a param of at least 2 dims, got shape [5]"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::state_shape(StateShape::Columns, {}),
                       doctest::Contains("state_shape: Columns needs a param of at least 2 dims, got shape []"),
                       ValueError);
}

TEST_CASE("hyper-parameters are read from the group at every step") {
  for (const OptimizerInfo& info : rows_for("hyper-parameters are read from the group at every step")) {
    INFO(info.name);
    Tensor p = leaf(info, {3});
    auto opt = make(info, Params{p}, Dict{{"lr", 0.1}});
    opt->param_groups()[0]["lr"] = 0.0;
    if (opt->param_groups()[0].contains("weight_decay")) opt->param_groups()[0]["weight_decay"] = 0.0;
    Tensor before = p.detach().clone();
    p.set_grad(ones_like(p));
    step_once(info, *opt);
    CHECK(equal(p.detach(), before));
    opt->param_groups()[0]["lr"] = 0.1;
    step_once(info, *opt);
    CHECK_FALSE(equal(p.detach(), before));
  }
}

TEST_CASE("test_step_post_hook") {
  for (const OptimizerInfo& info : rows_for("test_step_post_hook")) {
    INFO(info.name);
    auto opt = make(info, Params{ones(shape_for(info, {2}))});
    int data = 2;
    auto handle = opt->register_step_post_hook([&](Optimizer&, const optim::StepArgs&) { data += 2; });
    step_once(info, *opt);
    step_once(info, *opt);
    CHECK(data == 6);
    handle.remove();
    handle.remove();  // idempotent
    step_once(info, *opt);
    CHECK(data == 6);
  }
}

TEST_CASE("test_step_pre_hook") {
  for (const OptimizerInfo& info : rows_for("test_step_pre_hook")) {
    INFO(info.name);
    auto opt = make(info, Params{ones(shape_for(info, {2}))});
    int data = 5;
    auto handle = opt->register_step_pre_hook(
        [&](Optimizer&, const optim::StepArgs&) -> std::optional<optim::StepArgs> {
          data += 2;
          return std::nullopt;
        });
    step_once(info, *opt);
    step_once(info, *opt);
    CHECK(data == 9);
    handle.remove();
    step_once(info, *opt);
    CHECK(data == 9);
  }
}

TEST_CASE("a step pre-hook may replace the closure") {
  for (const OptimizerInfo& info : optim_db()) {
    INFO(info.name);
    auto opt = make(info, Params{leaf(info, {2})});
    Tensor replaced = tensor<double>({7.0});
    optim::Closure seen;
    opt->register_step_pre_hook([&](Optimizer&, const optim::StepArgs&) -> std::optional<optim::StepArgs> {
      return optim::StepArgs{[&] { return replaced; }};
    });
    opt->register_step_post_hook([&](Optimizer&, const optim::StepArgs& args) { seen = args.closure; });
    CHECK(opt->step([] { return tensor<double>({1.0}); }).is_same(replaced));
    REQUIRE(seen);
    CHECK(seen().is_same(replaced));
  }
}

TEST_CASE("test_step_all_hooks") {
  for (const OptimizerInfo& info : rows_for("test_step_all_hooks")) {
    INFO(info.name);
    auto opt = make(info, Params{leaf(info, {2})});
    auto sgd = optim::make_optimizer("SGD", Params{leaf({2})});
    std::vector<int> data;
    HandleGuard guard;
    auto log = [&](int v) { return [&data, v](Optimizer&, const optim::StepArgs&) { data.push_back(v); }; };
    auto log_pre = [&](int v) {
      return [&data, v](Optimizer&, const optim::StepArgs&) -> std::optional<optim::StepArgs> {
        data.push_back(v);
        return std::nullopt;
      };
    };
    guard.handles.push_back(optim::register_optimizer_step_pre_hook(log_pre(0)));
    guard.handles.push_back(optim::register_optimizer_step_post_hook(log(5)));
    for (Optimizer* o : {opt.get(), sgd.get()}) {
      guard.handles.push_back(o->register_step_pre_hook(log_pre(1)));
      guard.handles.push_back(o->register_step_post_hook(log(2)));
    }
    step_once(info, *opt);
    CHECK(data == std::vector<int>{0, 1, 2, 5});
    sgd->step();
    CHECK(data == std::vector<int>{0, 1, 2, 5, 0, 1, 2, 5});
    step_once(info, *opt);
    CHECK(data == std::vector<int>{0, 1, 2, 5, 0, 1, 2, 5, 0, 1, 2, 5});
    for (auto& h : guard.handles) h.remove();
    step_once(info, *opt);
    sgd->step();
    CHECK(data.size() == 12);
  }
}

TEST_CASE("removing a hook after its optimizer is gone is harmless") {
  for (const OptimizerInfo& info : optim_db()) {
    optim::RemovableHandle handle;
    {
      auto opt = make(info, Params{leaf(info, {2})});
      handle = opt->register_state_dict_pre_hook([](Optimizer&) {});
    }
    CHECK_NOTHROW(handle.remove());
  }
}

TEST_CASE("make_optimizer: every registry row by name, keyword errors as Python's") {
  auto names = optim::optimizer_names();
  for (const OptimizerInfo& info : optim_db()) {
    INFO(info.name);
    CHECK(std::find(names.begin(), names.end(), info.name) != names.end());
    auto opt = make(info, Params{leaf(info, {2})}, Dict{{"lr", 0.25}});
    CHECK(opt->name() == info.name);
    CHECK(opt->param_groups()[0].lr() == 0.25);
    std::string unexpected = info.name + ": unexpected keyword argument 'bogus' (its keywords: lr, ";
    CHECK_THROWS_WITH_AS(make(info, Params{leaf(info, {2})}, Dict{{"lr", 0.1}, {"bogus", true}}),
                         doctest::Contains(unexpected.c_str()), ValueError);
    // A near miss says which keyword it misspells; the message lists them all, in declaration order.
    CHECK_THROWS_WITH_AS(make(info, Params{leaf(info, {2})}, Dict{{"lrr", 0.1}}),
                         doctest::Contains("'lrr' (did you mean 'lr'?) (its keywords: lr, "), ValueError);
    if (info.supports("foreach"))
      CHECK_THROWS_WITH_AS(make(info, Params{leaf(info, {2})}, Dict{{"foreach", 1.0}}),
                           doctest::Contains("'foreach' must be bool or None"), TypeError);
    const std::string not_bool = "'" + info.bool_option + "' must be bool";
    CHECK_THROWS_WITH_AS(make(info, Params{leaf(info, {2})}, Dict{{info.bool_option, 1.0}}),
                         doctest::Contains(not_bool.c_str()), TypeError);
  }
  CHECK_THROWS_WITH_AS(optim::make_optimizer("Adamm", Params{leaf({2})}),
                       doctest::Contains("unknown optimizer 'Adamm'"), ValueError);
  CHECK_THROWS_WITH_AS(optim::make_optimizer("Adam", Params{leaf({2})}, Dict{{"betas", 0.9}}),
                       doctest::Contains("'betas' must be a tuple of 2 values"), TypeError);
  auto adam = optim::make_optimizer("Adam", Params{leaf({2})}, Dict{{"betas", Value::tuple({0.8, 0.9})}});
  CHECK(adam->param_groups()[0].at("betas") == Value::tuple({0.8, 0.9}));
}
