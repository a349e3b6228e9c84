// LR schedulers: PyTorch golden sequences (scripts/fixtures/lr_scheduler.py)
// and the TestLRScheduler catalogue (shared/spec/test-catalogue.md §2).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "descent/optim/checkpoint.h"
#include "lr_scheduler_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

using Factory = std::function<std::shared_ptr<LRScheduler>(Optimizer&)>;

template <typename S, typename... A>
Factory make(A... args) {
  return [=](Optimizer& o) { return std::make_shared<S>(o, args...); };
}

const std::map<std::string, Factory>& basic_schedulers() {
  static const std::map<std::string, Factory> table{
      {"step", make<StepLR>(int64_t{3}, 0.1)},
      {"multistep", make<MultiStepLR>(std::vector<int64_t>{2, 5, 9}, 0.1)},
      {"multistep_repeated", make<MultiStepLR>(std::vector<int64_t>{5, 2, 5}, 0.5)},
      {"constant", make<ConstantLR>(0.5, int64_t{5})},
      {"linear", make<LinearLR>(0.5, 1.0, int64_t{4})},
      {"linear2", make<LinearLR>(0.25, 0.6, int64_t{4})},
      {"exp", make<ExponentialLR>(0.9)},
      {"poly", make<PolynomialLR>(int64_t{5}, 0.9)},
      {"cos", make<CosineAnnealingLR>(int64_t{10}, 1e-10)},
      {"cos5", make<CosineAnnealingLR>(int64_t{5}, 0.001)},
      {"lambda",
       [](Optimizer& o) {
         return std::make_shared<LambdaLR>(
             o, std::vector<LrLambda>{[](int64_t e) { return std::pow(0.9, static_cast<double>(e)); },
                                      [](int64_t e) { return std::pow(0.8, static_cast<double>(e)); }});
       }},
      {"multiplicative", [](Optimizer& o) {
         return std::make_shared<MultiplicativeLR>(
             o, std::vector<LrLambda>{[](int64_t) { return 0.9; }, [](int64_t) { return 0.8; }});
       }}};
  return table;
}

const std::map<std::string, Factory>& closed_form_schedulers() {
  static const std::map<std::string, Factory> table{
      {"step", make<StepLR>(int64_t{3}, 0.1)},
      {"multistep", make<MultiStepLR>(std::vector<int64_t>{2, 5, 9}, 0.1)},
      {"constant", make<ConstantLR>(0.5, int64_t{5})},
      {"linear", make<LinearLR>(0.5, 1.0, int64_t{4})},
      {"exp", make<ExponentialLR>(0.9)},
      {"poly", make<PolynomialLR>(int64_t{5}, 0.9)},
      {"cos", make<CosineAnnealingLR>(int64_t{5}, 0.001)}};
  return table;
}

int golden_length(const std::string& file, const std::string& name) {
  return static_cast<int>(golden(file, name).tensor("lr0").numel());
}

}  // namespace

TEST_SUITE("lr_scheduler") {
  TEST_CASE("every chainable scheduler follows PyTorch's sequence") {
    for (const auto& [name, factory] : basic_schedulers()) {
      SchedulerFixture f;
      auto s = factory(f.opt);
      check_golden(run(f.opt, golden_length("basic.txt", name), stepping(*s)), "basic.txt", name);
    }
  }

  TEST_CASE("step(epoch) uses the closed form, which agrees with the recursive form") {
    for (const auto& [name, factory] : closed_form_schedulers()) {
      SchedulerFixture f;
      auto s = factory(f.opt);
      const int n = golden_length("basic.txt", "closed_" + name);
      Recording closed;
      {
        WarningCapture w;
        closed = run(f.opt, n, [&](int e) { s->step(static_cast<double>(e + 1)); });
        REQUIRE(w.messages().size() == static_cast<std::size_t>(n));
        for (const auto& m : w.messages()) CHECK(m == EPOCH_DEPRECATION_WARNING);
      }
      check_golden(closed, "basic.txt", "closed_" + name);
      SchedulerFixture g;
      auto r = factory(g.opt);
      Recording recursive = run(g.opt, n, stepping(*r));
      for (int i = 0; i < n; ++i) CHECK(recursive.lr0[i] == doctest::Approx(closed.lr0[i]).epsilon(1e-5));
    }
  }

  TEST_CASE("the lr is constant when step(epoch) repeats an epoch") {
    std::vector<Factory> factories{
        make<StepLR>(int64_t{2}, 0.1), make<ExponentialLR>(0.9), make<ConstantLR>(1.0 / 3, int64_t{5}),
        make<LinearLR>(1.0 / 3, 1.0, int64_t{5}), make<PolynomialLR>(int64_t{5}, 0.9)};
    for (const auto& factory : factories) {
      SchedulerFixture f;
      auto s = factory(f.opt);
      std::vector<double> seen;
      for (int i = 0; i < 10; ++i) {
        f.opt.step();
        WarningCapture w;
        s->step(2.0);
        CHECK(w.messages() == std::vector<std::string>{EPOCH_DEPRECATION_WARNING});
        seen.push_back(f.opt.param_groups()[0].lr());
      }
      CHECK(*std::min_element(seen.begin(), seen.end()) == *std::max_element(seen.begin(), seen.end()));
    }
  }

  TEST_CASE("construction sets initial_lr (a clone for tensor lrs), base_lrs, last_epoch and get_last_lr") {
    SchedulerFixture f;
    Tensor lr1 = f.opt.param_groups()[1].at("lr").to_tensor();
    StepLR s(f.opt, 3);
    CHECK(s.last_epoch == 0);
    CHECK(f.opt.param_groups()[0].at("initial_lr").to_double() == 0.05);
    const Value& initial1 = f.opt.param_groups()[1].at("initial_lr");
    REQUIRE(initial1.is_tensor());
    CHECK_FALSE(initial1.to_tensor().is_same(lr1));
    CHECK_FALSE(s.base_lrs[1].to_tensor().is_same(lr1));
    CHECK_FALSE(s.get_last_lr()[1].to_tensor().is_same(lr1));
    CHECK(s.get_last_lr()[0].to_double() == 0.05);
    // A second scheduler keeps the first one's initial_lr.
    f.opt.param_groups()[0]["lr"] = 0.3;
    ExponentialLR e(f.opt, 0.5);
    CHECK(e.base_lrs[0].to_double() == 0.05);
  }

  TEST_CASE("resuming without initial_lr is a KeyError naming the group") {
    SchedulerFixture f;
    CHECK_THROWS_WITH_AS(
        StepLR(f.opt, 3, 0.1, 1),
        doctest::Contains("param 'initial_lr' is not specified in param_groups[0] when resuming "
                          "scheduler with last_epoch >= 0"),
        KeyError);
  }

  TEST_CASE("stepping the scheduler before the optimizer warns once; the right order never warns") {
    SUBCASE("old pattern") {
      SchedulerFixture f;
      std::unique_ptr<StepLR> s;
      {
        WarningCapture w;
        s = std::make_unique<StepLR>(f.opt, 3);
        CHECK(w.messages().empty());
      }
      WarningCapture w;
      for (int i = 0; i < 35; ++i) {
        s->step();
        f.opt.step();
      }
      REQUIRE(w.messages().size() == 1);
      CHECK(w.contains("how-to-adjust-learning-rate"));
    }
    SUBCASE("old pattern when resuming") {
      SchedulerFixture f;
      for (auto& g : f.opt.param_groups()) g["initial_lr"] = 0.01;
      StepLR s(f.opt, 3, 0.1, 10);
      WarningCapture w;
      s.step();
      f.opt.step();
      CHECK(w.contains("`lr_scheduler.step()` before `optimizer.step()`"));
    }
    SUBCASE("new pattern") {
      SchedulerFixture f;
      StepLR s(f.opt, 3);
      WarningCapture w;
      for (int i = 0; i < 35; ++i) {
        f.opt.step();
        s.step();
      }
      CHECK(w.messages().empty());
    }
  }

  TEST_CASE("get_lr outside step warns and points to get_last_lr") {
    SchedulerFixture f;
    StepLR s(f.opt, 3);
    WarningCapture w;
    auto lrs = s.get_lr();
    CHECK(lrs.size() == 2);
    CHECK(w.contains("please use `get_last_lr()`"));
  }

  TEST_CASE("validation errors carry PyTorch's messages") {
    SchedulerFixture f;
    CHECK_THROWS_WITH_AS(ConstantLR(f.opt, 1.5),
                         "Constant multiplicative factor expected to be between 0 and 1.", ValueError);
    CHECK_THROWS_WITH_AS(LinearLR(f.opt, 0.0), doctest::Contains("Starting multiplicative factor"),
                         ValueError);
    CHECK_THROWS_WITH_AS(LinearLR(f.opt, 1.1), doctest::Contains("Starting multiplicative factor"),
                         ValueError);
    CHECK_THROWS_WITH_AS(LinearLR(f.opt, 0.5, -0.1),
                         "Ending multiplicative factor expected to be between 0 and 1.", ValueError);
    CHECK_THROWS_WITH_AS(LambdaLR(f.opt, std::vector<LrLambda>{[](int64_t) { return 1.0; }}),
                         "Expected 2 lr_lambdas, but got 1", ValueError);
    CHECK_THROWS_WITH_AS(MultiplicativeLR(f.opt, LrLambda()),
                         doctest::Contains("lr_lambda should be a function"), TypeError);
    CHECK_THROWS_WITH_AS(
        MultiplicativeLR(f.opt, std::vector<LrLambda>{[](int64_t) { return 1.0; }, LrLambda()}),
        doctest::Contains("lr_lambda should be a function"), TypeError);
    // A rejected scheduler leaves the groups untouched.
    CHECK_FALSE(f.opt.param_groups()[0].contains("initial_lr"));
    CHECK_THROWS_WITH_AS(StepLR(f.opt, 3).step(2.5),
                         doctest::Contains("epoch must be a whole number, got 2.5"), ValueError);
    StepLR zero(f.opt, 0);
    f.opt.step();
    CHECK_THROWS_WITH_AS(zero.step(), doctest::Contains("StepLR: step_size: integer division by zero"),
                         ValueError);
  }

  TEST_CASE("recursive schedulers cover param groups added later; closed-form ones report the mismatch") {
    SchedulerFixture f;
    StepLR s(f.opt, 2);
    f.opt.add_param_group(ParamGroup({zeros({1}, {.requires_grad = true})}, Dict{{"lr", 0.5}}));
    for (int i = 0; i < 2; ++i) {
      f.opt.step();
      s.step();
    }
    CHECK(f.opt.param_groups()[2].lr() == doctest::Approx(0.05));
    CHECK(s.get_last_lr().size() == 3);

    SchedulerFixture g;
    LambdaLR l(g.opt, [](int64_t) { return 1.0; });
    g.opt.add_param_group(ParamGroup({zeros({1}, {.requires_grad = true})}, Dict{{"lr", 0.5}}));
    g.opt.step();
    CHECK_THROWS_AS(l.step(), ValueError);
  }

  TEST_CASE("a tensor lr is updated in place by every scheduler and never aliases initial_lr or base_lrs") {
    std::map<std::string, Factory> all = basic_schedulers();
    all["cyclic"] = [](Optimizer& o) {
      return std::make_shared<CyclicLR>(o, 0.01, 0.1, CyclicLROptions{.step_size_up = 3});
    };
    all["onecycle"] = [](Optimizer& o) {
      return std::make_shared<OneCycleLR>(o, 0.1, OneCycleLROptions{.total_steps = 20});
    };
    all["warm"] = make<CosineAnnealingWarmRestarts>(int64_t{3}, int64_t{2});
    for (const auto& [name, factory] : all) {
      INFO(name);
      SchedulerFixture f(0.9);
      Tensor lr1 = f.opt.param_groups()[1].at("lr").to_tensor();
      auto s = factory(f.opt);
      const Value initial = deepcopy(f.opt.param_groups()[1].at("initial_lr"));
      const std::vector<std::string> keys{"max_lr", "min_lr", "max_momentum", "base_momentum"};
      std::map<std::string, Value> entries;
      for (const auto& k : keys)
        if (f.opt.param_groups()[1].contains(k)) entries[k] = deepcopy(f.opt.param_groups()[1].at(k));
      const Value base = deepcopy(s->base_lrs[1]);
      for (int i = 0; i < 12; ++i) {
        f.opt.step();
        s->step();
        const Value& now = f.opt.param_groups()[1].at("lr");
        REQUIRE(now.is_tensor());
        CHECK(now.to_tensor().is_same(lr1));
        CHECK(now.to_tensor().dtype() == kFloat32);
      }
      CHECK(f.opt.param_groups()[1].at("initial_lr") == initial);
      CHECK(s->base_lrs[1] == base);
      for (const auto& [k, v] : entries) CHECK(f.opt.param_groups()[1].at(k) == v);
    }
  }

  TEST_CASE("a resumed recursive scheduler does not advance the lr at construction") {
    for (const auto& [name, factory] :
         std::map<std::string, std::function<std::shared_ptr<LRScheduler>(Optimizer&, int64_t)>>{
             {"exp", [](Optimizer&o, int64_t e) { return std::make_shared<ExponentialLR>(o, 0.9, e); }},
             {"linear", [](Optimizer&o, int64_t e) { return std::make_shared<LinearLR>(o, 0.5, 1.0, 4, e); }},
             {"poly", [](Optimizer&o, int64_t e) { return std::make_shared<PolynomialLR>(o, 5, 0.9, e); }},
             {"cos",
              [](Optimizer&o, int64_t e) { return std::make_shared<CosineAnnealingLR>(o, 10, 0.0, e); }},
             {"mult", [](Optimizer&o, int64_t e) {
                return std::make_shared<MultiplicativeLR>(
                    o, [](int64_t) { return 0.9; }, e);
              }}}) {
      INFO(name);
      SchedulerFixture f;
      auto s = factory(f.opt, -1);
      f.opt.step();
      s->step();
      const double lr = f.opt.param_groups()[0].lr();
      auto resumed = factory(f.opt, s->last_epoch);
      CHECK(f.opt.param_groups()[0].lr() == lr);
      CHECK(resumed->get_last_lr()[0].to_double() == doctest::Approx(s->get_last_lr()[0].to_double()));
    }
  }

}  // TEST_SUITE
