// Per-batch and metric-driven schedulers: CyclicLR, OneCycleLR,
// CosineAnnealingWarmRestarts and ReduceLROnPlateau, against PyTorch's
// golden sequences (scripts/fixtures/lr_scheduler.py) and the catalogue.
#include <doctest/doctest.h>

#include <cmath>

#include "lr_scheduler_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

// An optimizer with neither momentum nor betas; its step does nothing.
class PlainOptimizer : public Optimizer {
 public:
  explicit PlainOptimizer(Params params) : Optimizer("PlainOptimizer", Dict{{"lr", 0.1}}) {
    init_param_groups(std::move(params));
  }

 protected:
  void step_group(ParamGroup&) override {}
};

struct AdamFixture {
  Tensor p0 = zeros({1}, {.requires_grad = true});
  Tensor p1 = zeros({1}, {.requires_grad = true});
  Adam opt{Params{ParamGroup({p0}), ParamGroup({p1}, Dict{{"lr", Value(scalar_tensor(0.002f))}})},
           {.lr = 0.001}};
};

void check_cyclic(const std::string& name, const PerGroup& base_lr, const PerGroup& max_lr,
                  CyclicLROptions options) {
  SchedulerFixture f(0.9);
  CyclicLR s(f.opt, base_lr, max_lr, std::move(options));
  const bool momentum = s.cycle_momentum;
  check_golden(
      run(f.opt, static_cast<int>(golden("cyclic.txt", name).tensor("lr0").numel()), stepping(s), momentum),
      "cyclic.txt", name);
}

void check_one_cycle(const std::string& name, const PerGroup& max_lr, const OneCycleLROptions& options) {
  SchedulerFixture f(0.9);
  OneCycleLR s(f.opt, max_lr, options);
  check_golden(run(f.opt, static_cast<int>(golden("onecycle.txt", name).tensor("lr0").numel()), stepping(s),
                   options.cycle_momentum),
               "onecycle.txt", name);
}

// Counts calls so a test can tell which scale function ran; its state is saved.
struct CountingScale : ScaleFn::Object {
  double value;
  explicit CountingScale(double v) : value(v) {}
  double operator()(double) override { return value; }
  Dict state_dict() const override { return Dict{{"value", value}}; }
  void load_state_dict(const Dict& state) override { value = state.at("value").to_double(); }
};

}  // namespace

TEST_SUITE("lr_policies") {
  TEST_CASE("CyclicLR follows PyTorch in every mode, with per-group bounds and momentum cycling") {
    const CyclicLROptions m{.base_momentum = 1.0, .max_momentum = 5.0};
    auto with = [&](CyclicLROptions o) {
      o.base_momentum = m.base_momentum;
      o.max_momentum = m.max_momentum;
      return o;
    };
    check_cyclic("triangular", 1.0, 5.0, with({.step_size_up = 4}));
    check_cyclic("triangular_no_momentum", 1.0, 5.0, {.step_size_up = 4, .cycle_momentum = false});
    check_cyclic("triangular2", 1.0, 5.0, with({.step_size_up = 4, .mode = "triangular2"}));
    check_cyclic("exp_range", 1.0, 5.0, with({.step_size_up = 4, .mode = "exp_range", .gamma = 0.9}));
    check_cyclic("triangular_groups", {1.0, 2.0}, {5.0, 6.0},
                 {.step_size_up = 4, .base_momentum = {1.0, 2.0}, .max_momentum = {5.0, 6.0}});
    check_cyclic(
        "triangular2_groups", {1.0, 3.0}, {5.0, 7.0},
        {.step_size_up = 4, .mode = "triangular2", .base_momentum = {1.0, 3.0}, .max_momentum = {5.0, 7.0}});
    check_cyclic("exp_range_groups", {1.0, 5.0}, {5.0, 12.0},
                 {.step_size_up = 4,
                  .mode = "exp_range",
                  .gamma = 0.9,
                  .base_momentum = {1.0, 5.0},
                  .max_momentum = {5.0, 12.0}});
    check_cyclic("triangular_down", 1.0, 5.0, with({.step_size_up = 4, .step_size_down = 6}));
    check_cyclic("triangular2_down", {1.0, 3.0}, {5.0, 7.0},
                 {.step_size_up = 2,
                  .step_size_down = 6,
                  .mode = "triangular2",
                  .base_momentum = {1.0, 3.0},
                  .max_momentum = {5.0, 7.0}});
    check_cyclic("exp_range_down", 1.0, 5.0,
                 with({.step_size_up = 2, .step_size_down = 6, .mode = "exp_range", .gamma = 0.9}));
    check_cyclic("custom_cycle", 1.0, 5.0,
                 with({.step_size_up = 4, .scale_fn = [](double x) { return 1.0 / x; }}));
    check_cyclic("custom_iterations", 1.0, 5.0,
                 with({.step_size_up = 3,
                       .scale_fn = [](double x) { return std::pow(0.95, x); },
                       .scale_mode = "iterations"}));
  }

  TEST_CASE("CyclicLR without cycle_momentum leaves the momentum alone") {
    SchedulerFixture f(0.9);
    CyclicLR s(f.opt, 1.0, 5.0, {.step_size_up = 4, .cycle_momentum = false});
    for (int i = 0; i < 5; ++i) {
      f.opt.step();
      s.step();
      CHECK(f.opt.param_groups()[0].at("momentum").to_double() == 0.9);
    }
    CHECK_FALSE(f.opt.param_groups()[0].contains("max_momentum"));
  }

  TEST_CASE("CyclicLR and OneCycleLR cycle beta1 of Adam-style optimizers") {
    AdamFixture a;
    CyclicLR s(a.opt, 0.001, 0.01, {.step_size_up = 3, .base_momentum = 0.8, .max_momentum = 0.95});
    check_golden(run(a.opt, 13, stepping(s), true), "cyclic.txt", "adam_beta1");
    CHECK(a.opt.param_groups()[0].at("betas").to_list().is_tuple);
    CHECK(a.opt.param_groups()[0].at("betas")[1].to_double() == 0.999);

    AdamFixture b;
    OneCycleLR o(b.opt, 25.0,
                 {.total_steps = 10,
                  .anneal_strategy = "linear",
                  .base_momentum = 1.0,
                  .max_momentum = 22.0,
                  .final_div_factor = 2});
    check_golden(run(b.opt, 10, stepping(o), true), "onecycle.txt", "adam");

    AdamFixture c;
    CyclicLR quiet(c.opt, 0.001, 0.01, {.step_size_up = 3, .cycle_momentum = false});
    c.opt.step();
    quiet.step();
    CHECK(c.opt.param_groups()[0].at("betas")[0].to_double() == 0.9);
  }

  TEST_CASE("CyclicLR validation") {
    SchedulerFixture f(0.9);
    CHECK_THROWS_WITH_AS(CyclicLR(f.opt, 1.0, 5.0, {.mode = "CATS"}), "mode is invalid and scale_fn is None",
                         ValueError);
    CHECK_THROWS_WITH_AS(CyclicLR(f.opt, PerGroup{1.0, 2.0, 3.0}, 5.0),
                         "base_lr must have the same length as optimizer.param_groups. base_lr has 3 values, "
                         "param_groups has 2.",
                         ValueError);
    Tensor p = zeros({1}, {.requires_grad = true});
    PlainOptimizer plain({p});
    CHECK_THROWS_WITH_AS(CyclicLR(plain, 0.1, 1.0),
                         "optimizer must support momentum or beta1 with `cycle_momentum` option enabled",
                         ValueError);
    CHECK_NOTHROW(CyclicLR(plain, 0.1, 1.0, {.cycle_momentum = false}));
  }

  TEST_CASE(
      "CyclicLR state_dict: built-in modes restore, plain scale functions save None, objects save state") {
    SchedulerFixture f(0.9);
    CyclicLR a(f.opt, 1.0, 5.0, {.step_size_up = 4, .mode = "triangular2"});
    for (int i = 0; i < 5; ++i) {
      f.opt.step();
      a.step();
    }
    SchedulerFixture g(0.9);
    CyclicLR b(g.opt, 1.0, 5.0, {.step_size_up = 4, .mode = "exp_range", .gamma = 0.5});
    b.load_state_dict(a.state_dict());
    CHECK(b.mode == "triangular2");
    CHECK(b.scale_mode == "cycle");
    CHECK(b.scale_fn(3.0) == 0.25);
    CHECK(a.state_dict().at("_scale_fn_custom").is_none());

    CyclicLR plain_fn(f.opt, 1.0, 5.0, {.scale_fn = [](double) { return 0.5; }});
    CHECK(plain_fn.state_dict().at("_scale_fn_custom").is_none());

    auto saved = std::make_shared<CountingScale>(0.25);
    auto target = std::make_shared<CountingScale>(1.0);
    CyclicLR with_object(f.opt, 1.0, 5.0, {.scale_fn = saved});
    CyclicLR restored(g.opt, 1.0, 5.0, {.scale_fn = target});
    const Dict state = with_object.state_dict();
    CHECK(state.at("_scale_fn_custom") == Value(Dict{{"value", 0.25}}));
    restored.load_state_dict(state);
    CHECK(target->value == 0.25);
  }

  TEST_CASE("CyclicLR after CosineAnnealingLR keeps the lr within the cycle") {
    Tensor p = zeros({1}, {.requires_grad = true});
    SGD opt({p}, {.lr = 0.2, .momentum = 0.9});
    CosineAnnealingLR cos(opt, 20, 0.1);
    std::vector<double> lrs;
    for (int i = 0; i < 21; ++i) {
      opt.step();
      cos.step();
      lrs.push_back(opt.param_groups()[0].lr());
    }
    CyclicLR cyc(opt, 0.1, 0.3, {.step_size_up = 1, .step_size_down = 3});
    for (int i = 0; i < 12; ++i) {
      lrs.push_back(opt.param_groups()[0].lr());
      opt.step();
      cyc.step();
    }
    check_series(lrs, golden("cyclic.txt", "cosine_then_cyclic"), "lr0", 1e-12);
    CHECK(opt.param_groups()[0].lr() <= 0.3);
  }

  TEST_CASE("OneCycleLR follows PyTorch (cos, linear, three phases, epochs x steps_per_epoch)") {
    const OneCycleLROptions m{
        .total_steps = 10, .base_momentum = 1.0, .max_momentum = 22.0, .final_div_factor = 2};
    OneCycleLROptions linear = m;
    linear.anneal_strategy = "linear";
    check_one_cycle("linear", 25.0, linear);
    check_one_cycle("cos", 25.0, m);
    check_one_cycle("three_phase", 25.0,
                    {.total_steps = 10,
                     .pct_start = 0.4,
                     .anneal_strategy = "linear",
                     .base_momentum = 1.0,
                     .max_momentum = 22.0,
                     .div_factor = 25,
                     .final_div_factor = 4,
                     .three_phase = true});
    check_one_cycle("cos_three_phase", PerGroup{0.1, 0.4},
                    {.total_steps = 23, .pct_start = 0.25, .three_phase = true});
    check_one_cycle("epochs", 0.3, {.epochs = 3, .steps_per_epoch = 5, .cycle_momentum = false});
  }

  TEST_CASE("OneCycleLR stores its bounds in the groups and refuses to step past total_steps") {
    SchedulerFixture f(0.9);
    OneCycleLR s(f.opt, 0.4, {.total_steps = 3, .div_factor = 4, .final_div_factor = 10});
    const ParamGroup& g = f.opt.param_groups()[0];
    CHECK(g.at("initial_lr").to_double() == 0.1);
    CHECK(g.at("max_lr").to_double() == 0.4);
    CHECK(g.at("min_lr").to_double() == doctest::Approx(0.01));
    CHECK(g.at("max_momentum").to_double() == 0.95);
    CHECK(g.at("base_momentum").to_double() == 0.85);
    for (int i = 0; i < 3; ++i) {
      f.opt.step();
      s.step();
    }
    f.opt.step();
    CHECK_THROWS_WITH_AS(s.step(), "Tried to step 4 times. The specified number of total steps is 3",
                         ValueError);
  }

  TEST_CASE("OneCycleLR validation") {
    SchedulerFixture f(0.9);
    CHECK_THROWS_WITH_AS(OneCycleLR(f.opt, 0.1, {.total_steps = 10, .anneal_strategy = "CATS"}),
                         "anneal_strategy must be one of 'cos' or 'linear', instead got CATS", ValueError);
    CHECK_THROWS_WITH_AS(OneCycleLR(f.opt, 0.1, {.total_steps = 10, .pct_start = 1.1}),
                         "Expected float between 0 and 1 pct_start, but got 1.1", ValueError);
    CHECK_THROWS_WITH_AS(OneCycleLR(f.opt, 0.1, {}),
                         "You must define either total_steps OR (epochs AND steps_per_epoch)", ValueError);
    CHECK_THROWS_WITH_AS(OneCycleLR(f.opt, 0.1, {.epochs = 3}),
                         "You must define either total_steps OR (epochs AND steps_per_epoch)", ValueError);
    CHECK_THROWS_WITH_AS(OneCycleLR(f.opt, 0.1, {.total_steps = 0}),
                         "Expected positive integer total_steps, but got 0", ValueError);
    CHECK_THROWS_WITH_AS(OneCycleLR(f.opt, 0.1, {.epochs = -1, .steps_per_epoch = 2}),
                         "Expected positive integer epochs, but got -1", ValueError);
    CHECK_THROWS_WITH_AS(OneCycleLR(f.opt, 0.1, {.epochs = 1, .steps_per_epoch = 0}),
                         "Expected positive integer steps_per_epoch, but got 0", ValueError);
  }

  TEST_CASE("OneCycleLR loads a legacy state dict that has anneal_func instead of _anneal_func_type") {
    SchedulerFixture f(0.9);
    OneCycleLR s(f.opt, 25.0,
                 {.total_steps = 10, .base_momentum = 1.0, .max_momentum = 22.0, .final_div_factor = 2});
    Dict legacy = s.state_dict();
    CHECK(legacy.at("_anneal_func_type").to_string_value() == "cos");
    legacy.erase("_anneal_func_type");
    legacy.set("anneal_func", "_annealing_cos");
    s.load_state_dict(legacy);
    CHECK(s.anneal_func_type == "cos");
    f.opt.step();
    s.step();
    CHECK(f.opt.param_groups()[0].lr() == golden("onecycle.txt", "cos").tensor("lr0").to_vector<double>()[1]);
  }

  TEST_CASE("CosineAnnealingWarmRestarts: step(), fractional and interleaved epochs") {
    for (int64_t mult : {1, 2, 4}) {
      SchedulerFixture f;
      CosineAnnealingWarmRestarts s(f.opt, 10, mult, 1e-10);
      check_golden(run(f.opt, 100, stepping(s)), "warm_restarts.txt",
                   "warm_step_mult" + std::to_string(mult));
    }
    for (int64_t mult : {1, 2}) {
      SchedulerFixture f;
      CosineAnnealingWarmRestarts s(f.opt, 10, mult, 1e-10);
      Recording rec;
      WarningCapture w;
      for (int e = 0; e < 300; ++e) {
        f.opt.step();
        s.step(e * 0.1);
        rec.record(f.opt, false);
      }
      CHECK(w.messages().empty());
      check_golden(rec, "warm_restarts.txt", "warm_fraction_mult" + std::to_string(mult));
    }
    const std::map<int64_t, std::vector<double>> epochs{{1, {0, 1, 2, 3, 4, 5, 12, 27, 3, 4, 5, 6, 13}},
                                                        {2, {0, 1, 2, 3, 4, 5, 25, 32, 33, 34, 80, 81, 3}},
                                                        {3, {0, 1, 2, 3, 4, 5, 11, 20, 37, 60, 150, 8}}};
    for (const auto& [mult, list] : epochs) {
      SchedulerFixture f;
      CosineAnnealingWarmRestarts s(f.opt, 10, mult, 1e-10);
      std::vector<double> lr, t_cur, t_i;
      for (std::size_t i = 0; i < list.size(); ++i) {
        f.opt.step();
        if (i % 3 == 1) {
          s.step();
        } else {
          s.step(list[i]);
        }
        lr.push_back(f.opt.param_groups()[0].lr());
        t_cur.push_back(s.T_cur);
        t_i.push_back(static_cast<double>(s.T_i));
      }
      const FixtureCase& c = golden("warm_restarts.txt", "warm_interleaved_mult" + std::to_string(mult));
      check_series(lr, c, "lr0", 1e-12);
      check_series(t_cur, c, "T_cur", 1e-12);
      check_series(t_i, c, "T_i", 0);
    }
  }

  TEST_CASE("CosineAnnealingWarmRestarts validation, T_cur wrap-around and state dict") {
    SchedulerFixture f;
    CHECK_THROWS_WITH_AS(CosineAnnealingWarmRestarts(f.opt, 0), "Expected positive integer T_0, but got 0",
                         ValueError);
    CHECK_THROWS_WITH_AS(CosineAnnealingWarmRestarts(f.opt, 10, 0), "Expected integer T_mult >= 1, but got 0",
                         ValueError);
    CosineAnnealingWarmRestarts s(f.opt, 10, 2);
    CHECK_THROWS_WITH_AS(s.step(-1.0), "Expected non-negative epoch, but got -1.0", ValueError);
    s.T_cur = 25;
    f.opt.step();
    s.step();
    CHECK(s.T_cur == 6);
    CHECK(s.T_i == 20);

    for (int i = 0; i < 7; ++i) {
      f.opt.step();
      s.step();
    }
    SchedulerFixture g;
    CosineAnnealingWarmRestarts other(g.opt, 100);
    other.load_state_dict(s.state_dict());
    CHECK(Value(other.state_dict()) == Value(s.state_dict()));
    CHECK(other.T_0 == 10);
  }

  TEST_CASE("ReduceLROnPlateau follows PyTorch's plateau scenarios") {
    const std::map<std::string, std::pair<ReduceLROnPlateauOptions, std::vector<double>>> cases = [] {
      std::map<std::string, std::pair<ReduceLROnPlateauOptions, std::vector<double>>> out;
      auto series = [](int n, const std::function<double(int)>& f) {
        std::vector<double> v;
        for (int i = 0; i < n; ++i) v.push_back(f(i));
        return v;
      };
      out["plateau1"] = {
          {.mode = "min", .patience = 5, .threshold = 0.01, .threshold_mode = "abs", .cooldown = 5},
          series(20, [](int i) { return 10 - i * 0.0167; })};
      out["plateau2"] = {
          {.mode = "min", .patience = 5, .threshold = 0.1, .threshold_mode = "abs", .cooldown = 0},
          series(22, [](int i) { return 10 - i * 0.0165; })};
      out["plateau3"] = {
          {.mode = "max", .patience = 5, .threshold = 0.1, .threshold_mode = "abs", .cooldown = 5},
          series(22, [](int i) { return i < 2 ? -0.8 : -0.234; })};
      out["plateau4"] = {{.mode = "max", .patience = 3, .threshold = 0.1, .threshold_mode = "rel"},
                         series(20, [](int i) { return 1.5 * std::pow(1.025, i); })};
      out["plateau5"] = {
          {.mode = "max", .patience = 5, .threshold = 0.1, .threshold_mode = "rel", .cooldown = 5},
          series(20, [](int i) { return 1.5 * std::pow(1.005, i); })};
      out["plateau6"] = {{.mode = "min", .threshold = 0.1, .threshold_mode = "rel"},
                         series(20, [](int i) { return 1.5 * std::pow(0.85, i); })};
      out["plateau7"] = {
          {.mode = "min", .patience = 5, .threshold = 0.1, .threshold_mode = "rel", .cooldown = 5},
          series(20, [](int i) { return i < 7 ? 1.0 : (i == 7 ? 0.6 : 0.5); })};
      out["plateau8"] = {{.mode = "max",
                          .patience = 5,
                          .threshold = 0.1,
                          .threshold_mode = "rel",
                          .cooldown = 5,
                          .min_lr = {0.4, 0.3}},
                         series(20, [](int i) { return 1.5 * std::pow(1.005, i); })};
      out["plateau_eps"] = {{.mode = "min", .factor = 0.5, .patience = 0, .min_lr = 0.2, .eps = 0.06},
                            series(8, [](int i) { return 1.0 + i; })};
      return out;
    }();
    for (const auto& [name, setup] : cases) {
      SchedulerFixture f(0.0, 0.5);
      ReduceLROnPlateau s(f.opt, setup.first);
      const auto& metrics = setup.second;
      check_golden(run(f.opt, static_cast<int>(metrics.size()), [&](int e) { s.step(metrics[e]); }),
                   "plateau.txt", name);
    }
  }

  TEST_CASE("ReduceLROnPlateau composes with schedulers that change the lr") {
    const auto metric = [](int i) { return 10 - i * 0.0165; };
    const std::map<std::string, std::function<std::shared_ptr<LRScheduler>(Optimizer&)>> others{
        {"step", [](Optimizer& o) { return std::make_shared<StepLR>(o, 3); }},
        {"cos", [](Optimizer& o) { return std::make_shared<CosineAnnealingLR>(o, 10, 1e-10); }},
        {"multistep",
         [](Optimizer& o) {
           return std::make_shared<MultiStepLR>(o, std::vector<int64_t>{3, 8, 12});
         }},
        {"exp", [](Optimizer& o) { return std::make_shared<ExponentialLR>(o, 0.1); }},
        {"linear", [](Optimizer& o) { return std::make_shared<LinearLR>(o, 0.4, 1.0, 4); }}};
    for (const auto& [name, build] : others) {
      SchedulerFixture f(0.0, 0.5);
      ReduceLROnPlateau plateau(f.opt,
                                {.mode = "min", .patience = 5, .threshold = 0.1, .threshold_mode = "abs"});
      auto other = build(f.opt);
      check_golden(run(f.opt, 22,
                       [&](int e) {
                         other->step();
                         plateau.step(metric(e));
                       }),
                   "plateau.txt", "compound_plateau_" + name);
    }
  }

  TEST_CASE("ReduceLROnPlateau: last lr before any step, tensor metrics, lr type, epoch and errors") {
    SchedulerFixture f(0.0, 0.5);
    Tensor lr1 = f.opt.param_groups()[1].at("lr").to_tensor();
    ReduceLROnPlateau s(f.opt, {.patience = 0});
    CHECK(s.get_last_lr()[0].to_double() == 0.5);
    CHECK(s.get_last_lr()[1].to_double() == 0.5);
    CHECK_FALSE(f.opt.param_groups()[0].contains("initial_lr"));
    s.step(scalar_tensor(1.0));
    s.step(2.0);
    CHECK(f.opt.param_groups()[0].at("lr").is_double());
    CHECK(f.opt.param_groups()[1].at("lr").to_tensor().is_same(lr1));
    CHECK(f.opt.param_groups()[1].lr() == doctest::Approx(0.05));
    {
      WarningCapture w;
      s.step(3.0, 10);
      CHECK(w.messages() == std::vector<std::string>{EPOCH_DEPRECATION_WARNING});
      CHECK(s.last_epoch == 10);
    }
    CHECK_THROWS_WITH_AS(s.step(), doctest::Contains("missing 1 required positional argument: 'metrics'"),
                         TypeError);
    {
      WarningCapture w;
      CHECK_THROWS_AS(s.get_lr(), NotImplementedError);
    }

    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(f.opt, {.factor = 1.0}), "Factor should be < 1.0.", ValueError);
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(f.opt, {.min_lr = {0.1}}), "expected 2 min_lrs, got 1",
                         ValueError);
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(f.opt, {.mode = "foo"}), "mode foo is unknown!", ValueError);
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(f.opt, {.threshold_mode = "foo"}),
                         "threshold mode foo is unknown!", ValueError);
  }

  TEST_CASE("ReduceLROnPlateau with groups added later: a scalar min_lr covers them, a list is an error") {
    SchedulerFixture f(0.0, 0.5);
    ReduceLROnPlateau s(f.opt, {.patience = 0});
    f.opt.add_param_group(ParamGroup({zeros({1}, {.requires_grad = true})}, Dict{{"lr", 0.5}}));
    s.step(1.0);
    s.step(2.0);
    CHECK(f.opt.param_groups()[2].lr() == doctest::Approx(0.05));
    CHECK(s.min_lrs.size() == 3);

    SchedulerFixture g(0.0, 0.5);
    ReduceLROnPlateau t(g.opt, {.patience = 0, .min_lr = {0.01, 0.01}});
    g.opt.add_param_group(ParamGroup({zeros({1}, {.requires_grad = true})}, Dict{{"lr", 0.5}}));
    t.step(1.0);
    CHECK_THROWS_WITH_AS(t.step(2.0),
                         doctest::Contains("The number of param groups in the `optimizer` (3) differs"),
                         RuntimeError);
  }

  TEST_CASE("ReduceLROnPlateau state dict restores every attribute") {
    SchedulerFixture f(0.0, 0.5);
    ReduceLROnPlateau a(
        f.opt, {.mode = "max", .factor = 0.5, .patience = 2, .threshold_mode = "abs", .cooldown = 1});
    for (int i = 0; i < 10; ++i) a.step(std::sin(i));
    SchedulerFixture g(0.0, 0.5);
    ReduceLROnPlateau b(g.opt);
    b.load_state_dict(a.state_dict());
    CHECK(Value(b.state_dict()) == Value(a.state_dict()));
    CHECK(b.mode_worse == -std::numeric_limits<double>::infinity());
    CHECK(b.is_better(a.best + 1.0, a.best));
  }

}  // TEST_SUITE
