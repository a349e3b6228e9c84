// SequentialLR, ChainedScheduler, schedulers stepped side by side, and
// scheduler state: state_dict round trips in memory and through checkpoint
// files mid-schedule (resuming gives the identical continuation).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "descent/optim/checkpoint.h"
#include "lr_scheduler_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

int length(const std::string& name) {
  return static_cast<int>(golden("composite.txt", name).tensor("lr0").numel());
}

void check_sequential(const std::string& name, const std::function<SchedulerList(Optimizer&)>& children,
                      std::vector<int64_t> milestones) {
  SchedulerFixture f;
  SequentialLR s(f.opt, children(f.opt), std::move(milestones));
  auto step = [&](int) {
    s.step();
    CHECK(s.get_last_lr()[0].to_double() == f.opt.param_groups()[0].lr());
  };
  check_golden(run(f.opt, length(name), step), "composite.txt", name);
}

void check_chained(const std::string& name, const std::function<SchedulerList(Optimizer&)>& children) {
  SchedulerFixture f;
  ChainedScheduler s(children(f.opt));
  CHECK(s.get_last_lr() == s.schedulers().back()->get_last_lr());
  check_golden(run(f.opt, length(name), stepping(s)), "composite.txt", name);
  CHECK(s.get_last_lr() == s.schedulers().back()->get_last_lr());
}

void check_compound(const std::string& name, const std::function<SchedulerList(Optimizer&)>& children) {
  SchedulerFixture f;
  SchedulerList all = children(f.opt);
  check_golden(run(f.opt, length(name),
                   [&](int) {
                     for (auto& s : all) s->step();
                   }),
               "composite.txt", name);
}

template <typename S, typename... A>
std::shared_ptr<LRScheduler> sched(Optimizer& o, A... args) {
  return std::make_shared<S>(o, args...);
}

// A stateful lr_lambda, as PyTorch's LambdaLRTestObject: its state is saved.
struct Scaled : LrLambda::Object {
  double value;
  explicit Scaled(double v) : value(v) {}
  double operator()(int64_t epoch) override { return value * static_cast<double>(epoch); }
  Dict state_dict() const override { return Dict{{"value", value}}; }
  void load_state_dict(const Dict& state) override { value = state.at("value").to_double(); }
};

}  // namespace

TEST_SUITE("lr_composite") {
  TEST_CASE("SequentialLR follows PyTorch, including a ChainedScheduler child") {
    check_sequential("sequential1",
                     [](Optimizer& o) {
                       return SchedulerList{sched<ExponentialLR>(o, 0.8), sched<StepLR>(o, int64_t{4}, 0.1)};
                     },
                     {3});
    check_sequential(
        "sequential2",
        [](Optimizer& o) {
          return SchedulerList{sched<ConstantLR>(o, 0.1, int64_t{3}), sched<ExponentialLR>(o, 0.9)};
        },
        {3});
    check_sequential("sequential3",
                     [](Optimizer& o) {
                       return SchedulerList{sched<ConstantLR>(o, 0.1, int64_t{3}),
                                            sched<ExponentialLR>(o, 0.8), sched<StepLR>(o, int64_t{2}, 0.1)};
                     },
                     {3, 6});
    check_sequential("sequential4",
                     [](Optimizer& o) {
                       return SchedulerList{sched<ConstantLR>(o, 1.0, int64_t{10}),
                                            sched<ConstantLR>(o, 0.1, int64_t{10})};
                     },
                     {10});
    {
      // As in PyTorch, the chained children step at construction, before any
      // optimizer step, and each warns once.
      WarningCapture w;
      check_sequential(
          "sequential5",
          [](Optimizer& o) {
            auto chained = std::make_shared<ChainedScheduler>(SchedulerList{
                sched<LinearLR>(o, 0.1, 1.0, int64_t{5}), sched<ConstantLR>(o, 0.1, int64_t{5})});
            return SchedulerList{chained, sched<ConstantLR>(o, 0.5, int64_t{5})};
          },
          {5});
      CHECK(w.messages().size() == 2);
    }
    check_sequential("sequential_cos_cyclic",
                     [](Optimizer& o) {
                       return SchedulerList{sched<CosineAnnealingLR>(o, int64_t{4}, 0.01),
                                            std::make_shared<LambdaLR>(o, [](int64_t e) {
                                              return std::pow(0.5, static_cast<double>(e));
                                            })};
                     },
                     {5});
  }

  TEST_CASE("SequentialLR resets a tensor lr in place without aliasing initial_lr") {
    Tensor p = zeros({1}, {.requires_grad = true});
    SGD opt({p}, {.lr = Value(scalar_tensor(2.0f))});
    Tensor lr = opt.param_groups()[0].at("lr").to_tensor();
    SequentialLR s(
        opt, {sched<LinearLR>(opt, 0.1, 0.8, int64_t{4}), sched<LinearLR>(opt, 0.8, 0.1, int64_t{4})}, {4});
    std::vector<double> seen;
    for (int i = 0; i < 8; ++i) {
      seen.push_back(opt.param_groups()[0].lr());
      opt.step();
      s.step();
    }
    check_series(seen, golden("composite.txt", "sequential_alias"), "lr0", 2e-6);
    CHECK(opt.param_groups()[0].at("lr").to_tensor().is_same(lr));
    CHECK(opt.param_groups()[0].at("initial_lr").to_double() == 2.0);
  }

  TEST_CASE("SequentialLR steps emit no warnings and get_last_lr follows the active child") {
    SchedulerFixture f;
    WarningCapture w;
    SequentialLR s(f.opt, {sched<LinearLR>(f.opt, 0.5, 0.1, int64_t{5}), sched<ExponentialLR>(f.opt, 0.9)},
                   {5});
    for (int i = 0; i < 10; ++i) {
      f.opt.step();
      s.step();
      CHECK(s.get_last_lr() == s.schedulers()[i + 1 < 5 ? 0 : 1]->get_last_lr());
    }
    CHECK(w.messages().empty());
    CHECK_THROWS_WITH_AS(s.step(3.0), "SequentialLR.step() takes no epoch argument", TypeError);
  }

  TEST_CASE("ChainedScheduler follows PyTorch and mirrors its last child's get_last_lr") {
    check_chained("chained1", [](Optimizer& o) { return SchedulerList{sched<StepLR>(o, int64_t{3}, 0.1)}; });
    check_chained("chained2",
                  [](Optimizer& o) { return SchedulerList{sched<LinearLR>(o, 0.4, 1.0, int64_t{3})}; });
    check_chained("chained3", [](Optimizer& o) {
      return SchedulerList{sched<LinearLR>(o, 0.4, 1.0, int64_t{3}),
                           sched<MultiStepLR>(o, std::vector<int64_t>{4, 8, 10}, 0.1)};
    });
    check_chained("chained4", [](Optimizer& o) {
      return SchedulerList{sched<ExponentialLR>(o, 0.9), sched<ConstantLR>(o, 0.2, int64_t{4}),
                           sched<StepLR>(o, int64_t{3}, 0.1)};
    });
    check_chained("chained5", [](Optimizer& o) {
      return SchedulerList{sched<PolynomialLR>(o, int64_t{5}, 0.9), sched<ConstantLR>(o, 0.1, int64_t{5})};
    });
  }

  TEST_CASE("independent schedulers on one optimizer compose multiplicatively") {
    check_compound("compound_step_multistep", [](Optimizer& o) {
      return SchedulerList{sched<StepLR>(o, int64_t{3}, 0.1),
                           sched<MultiStepLR>(o, std::vector<int64_t>{2, 5, 9}, 0.1)};
    });
    check_compound("compound_exp_linear", [](Optimizer& o) {
      return SchedulerList{sched<ExponentialLR>(o, 0.9), sched<LinearLR>(o, 0.4, 0.9, int64_t{4})};
    });
    check_compound("compound_step_constant", [](Optimizer& o) {
      return SchedulerList{sched<StepLR>(o, int64_t{3}, 0.1), sched<ConstantLR>(o, 0.4, int64_t{4})};
    });
    check_compound("compound_cos_step", [](Optimizer& o) {
      return SchedulerList{sched<CosineAnnealingLR>(o, int64_t{10}, 1e-10),
                           sched<StepLR>(o, int64_t{3}, 0.1)};
    });
    check_compound("compound_cos_exp", [](Optimizer& o) {
      return SchedulerList{sched<CosineAnnealingLR>(o, int64_t{10}, 1e-10), sched<ExponentialLR>(o, 0.1)};
    });
    check_compound("compound_exp_multistep", [](Optimizer& o) {
      return SchedulerList{sched<ExponentialLR>(o, 0.9),
                           sched<MultiStepLR>(o, std::vector<int64_t>{2, 5, 9}, 0.1)};
    });
    check_compound("compound_linear_multistep", [](Optimizer& o) {
      return SchedulerList{sched<LinearLR>(o, 0.4, 1.0, int64_t{4}),
                           sched<MultiStepLR>(o, std::vector<int64_t>{3, 6}, 0.1)};
    });
    check_compound("compound_cos_multistep", [](Optimizer& o) {
      return SchedulerList{sched<CosineAnnealingLR>(o, int64_t{10}, 1e-10),
                           sched<MultiStepLR>(o, std::vector<int64_t>{2, 5, 9}, 0.1)};
    });
    check_compound("compound_cos_linear", [](Optimizer& o) {
      return SchedulerList{sched<CosineAnnealingLR>(o, int64_t{10}, 1e-10),
                           sched<LinearLR>(o, 0.4, 0.9, int64_t{4})};
    });
    check_compound("compound_poly_multistep", [](Optimizer& o) {
      return SchedulerList{sched<PolynomialLR>(o, int64_t{8}, 2.0),
                           sched<MultiStepLR>(o, std::vector<int64_t>{3, 6}, 0.5)};
    });
  }

  TEST_CASE("SequentialLR and ChainedScheduler validation") {
    SchedulerFixture f;
    SchedulerFixture other;
    auto step = sched<StepLR>(f.opt, int64_t{3}, 0.1);
    auto plateau = std::make_shared<ReduceLROnPlateau>(f.opt);
    auto foreign = sched<StepLR>(other.opt, int64_t{3}, 0.1);
    CHECK_THROWS_WITH_AS(SequentialLR(f.opt, {}, {}),
                         "SequentialLR expects at least one scheduler, but got no scheduler.", ValueError);
    CHECK_THROWS_WITH_AS(
        ChainedScheduler(SchedulerList{}),
        "ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.", ValueError);
    CHECK_THROWS_WITH_AS(SequentialLR(f.opt, {step, nullptr}, {2}),
                         "SequentialLR at index 1 should have `optimizer` as its attribute.", TypeError);
    CHECK_THROWS_WITH_AS(SequentialLR(f.opt, {step, plateau}, {2}),
                         doctest::Contains("SequentialLR does not support `ReduceLROnPlateau`"), ValueError);
    CHECK_THROWS_WITH_AS(ChainedScheduler({step, plateau}),
                         doctest::Contains("but got one at index 1 in the given schedulers sequence."),
                         ValueError);
    CHECK_THROWS_WITH_AS(SequentialLR(f.opt, {step, foreign}, {2}),
                         doctest::Contains("expects all schedulers to belong to the same optimizer"),
                         ValueError);
    CHECK_THROWS_WITH_AS(ChainedScheduler({step, foreign}),
                         doctest::Contains("but got scheduler StepLR at index 1"), ValueError);
    CHECK_THROWS_WITH_AS(ChainedScheduler({step}, &other.opt), doctest::Contains("at index 0"), ValueError);
    CHECK_THROWS_WITH_AS(
        SequentialLR(f.opt, {step, step}, {}),
        doctest::Contains("but got number of schedulers 2 and the number of milestones to be equal to 0"),
        ValueError);
  }

  TEST_CASE("LambdaLR state dict: plain functions save None, callable objects save and restore state") {
    SchedulerFixture f;
    LambdaLR plain(f.opt, [](int64_t) { return 1.0; });
    const Dict plain_state = plain.state_dict();
    CHECK(plain_state.at("lr_lambdas") == Value::list({Value(), Value()}));

    auto source = std::make_shared<Scaled>(10);
    LambdaLR a(f.opt, std::vector<LrLambda>{source, source});
    auto t0 = std::make_shared<Scaled>(-1);
    auto t1 = std::make_shared<Scaled>(-1);
    SchedulerFixture g;
    LambdaLR b(g.opt, std::vector<LrLambda>{t0, t1});
    const Dict state = a.state_dict();
    b.load_state_dict(state);
    CHECK(t0->value == 10);
    CHECK(t1->value == 10);
    CHECK(Value(b.state_dict()) == Value(state));
  }

  TEST_CASE("state_dict loaded into a differently configured scheduler reproduces every attribute") {
    using Pair = std::function<std::pair<std::shared_ptr<LRScheduler>, std::shared_ptr<LRScheduler>>(
        Optimizer&, Optimizer&)>;
    const std::map<std::string, Pair> pairs{
        {"step",
         [](Optimizer& a, Optimizer& b) {
           return std::make_pair(sched<StepLR>(a, int64_t{3}, 0.1), sched<StepLR>(b, int64_t{5}, 0.5));
         }},
        {"multistep",
         [](Optimizer& a, Optimizer& b) {
           return std::make_pair(sched<MultiStepLR>(a, std::vector<int64_t>{1, 3, 3}, 0.2),
                                 sched<MultiStepLR>(b, std::vector<int64_t>{4}, 0.5));
         }},
        {"exp",
         [](Optimizer& a, Optimizer& b) {
           return std::make_pair(sched<ExponentialLR>(a, 0.9), sched<ExponentialLR>(b, 0.5));
         }},
        {"cos",
         [](Optimizer& a, Optimizer& b) {
           return std::make_pair(sched<CosineAnnealingLR>(a, int64_t{8}, 0.001),
                                 sched<CosineAnnealingLR>(b, int64_t{3}));
         }},
        {"onecycle",
         [](Optimizer& a, Optimizer& b) {
           return std::make_pair(
               sched<OneCycleLR>(a, 0.5, OneCycleLROptions{.total_steps = 20, .three_phase = true}),
               sched<OneCycleLR>(b, 0.1, OneCycleLROptions{.total_steps = 50}));
         }},
        {"plateau",
         [](Optimizer& a, Optimizer& b) {
           return std::make_pair(std::shared_ptr<LRScheduler>(std::make_shared<ReduceLROnPlateau>(
                                     a, ReduceLROnPlateauOptions{.patience = 1})),
                                 std::shared_ptr<LRScheduler>(std::make_shared<ReduceLROnPlateau>(
                                     b, ReduceLROnPlateauOptions{.mode = "max"})));
         }},
        {"sequential", [](Optimizer& a, Optimizer& b) {
           return std::make_pair(
               std::shared_ptr<LRScheduler>(std::make_shared<SequentialLR>(
                   a, SchedulerList{sched<ConstantLR>(a, 0.1, int64_t{3}), sched<ExponentialLR>(a, 0.9)},
                   std::vector<int64_t>{3})),
               std::shared_ptr<LRScheduler>(std::make_shared<SequentialLR>(
                   b, SchedulerList{sched<ConstantLR>(b, 0.5, int64_t{2}), sched<ExponentialLR>(b, 0.1)},
                   std::vector<int64_t>{7})));
         }}};
    for (const auto& [name, make_pair] : pairs) {
      INFO(name);
      SchedulerFixture f(0.9);
      SchedulerFixture g(0.9);
      auto [a, b] = make_pair(f.opt, g.opt);
      for (int i = 0; i < 10; ++i) {
        f.opt.step();
        if (auto* plateau = dynamic_cast<ReduceLROnPlateau*>(a.get())) {
          plateau->step(std::sin(i));
        } else {
          a->step();
        }
      }
      b->load_state_dict(a->state_dict());
      CHECK(Value(b->state_dict()) == Value(a->state_dict()));
      CHECK(b->get_last_lr() == a->get_last_lr());
      // The state dict survives the checkpoint encoding unchanged.
      const Value state(a->state_dict());
      CHECK(deserialize(serialize(state)) == state);
    }
  }

  TEST_CASE("resuming from a checkpoint file mid-schedule continues exactly where the run left off") {
    using Build = std::function<std::shared_ptr<LRScheduler>(Optimizer&)>;
    const std::map<std::string, Build> builds{
        {"step", [](Optimizer& o) { return sched<StepLR>(o, int64_t{3}, 0.5); }},
        {"cos", [](Optimizer& o) { return sched<CosineAnnealingLR>(o, int64_t{6}, 0.001); }},
        {"cyclic",
         [](Optimizer& o) { return sched<CyclicLR>(o, 0.01, 0.1, CyclicLROptions{.step_size_up = 3}); }},
        {"onecycle",
         [](Optimizer& o) { return sched<OneCycleLR>(o, 0.2, OneCycleLROptions{.total_steps = 30}); }},
        {"warm", [](Optimizer& o) { return sched<CosineAnnealingWarmRestarts>(o, int64_t{4}, int64_t{2}); }},
        {"plateau",
         [](Optimizer& o) {
           return std::make_shared<ReduceLROnPlateau>(o, ReduceLROnPlateauOptions{.patience = 1});
         }},
        {"sequential", [](Optimizer& o) {
           return std::make_shared<SequentialLR>(
               o, SchedulerList{sched<LinearLR>(o, 0.2, 1.0, int64_t{4}), sched<ExponentialLR>(o, 0.8)},
               std::vector<int64_t>{4});
         }}};
    const auto metric = [](int i) { return 1.0 + 0.1 * std::cos(i); };
    auto advance = [&](Optimizer& opt, LRScheduler& s, int i) {
      opt.step();
      if (auto* p = dynamic_cast<ReduceLROnPlateau*>(&s)) {
        p->step(metric(i));
      } else {
        s.step();
      }
    };
    const auto path = std::filesystem::temp_directory_path() / "descent_test_lr_checkpoint.dckpt";
    for (const auto& [name, build] : builds) {
      INFO(name);
      SchedulerFixture whole(0.9);
      auto reference = build(whole.opt);
      std::vector<double> expected;
      for (int i = 0; i < 20; ++i) {
        advance(whole.opt, *reference, i);
        expected.push_back(whole.opt.param_groups()[1].lr());
      }

      SchedulerFixture first(0.9);
      auto s = build(first.opt);
      std::vector<double> seen;
      for (int i = 0; i < 7; ++i) {
        advance(first.opt, *s, i);
        seen.push_back(first.opt.param_groups()[1].lr());
      }
      save(Dict{{"optimizer", first.opt.state_dict()}, {"scheduler", s->state_dict()}}, path);

      SchedulerFixture second(0.9);
      auto resumed = build(second.opt);  // constructed before the optimizer state is loaded
      const Dict checkpoint = load(path).to_dict();
      second.opt.load_state_dict(checkpoint.at("optimizer").to_dict());
      resumed->load_state_dict(checkpoint.at("scheduler").to_dict());
      for (int i = 7; i < 20; ++i) {
        advance(second.opt, *resumed, i);
        seen.push_back(second.opt.param_groups()[1].lr());
      }
      CHECK(seen == expected);
    }
    std::filesystem::remove(path);
  }

}  // TEST_SUITE
