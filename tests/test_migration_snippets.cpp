// The C++ side of docs/migration.md, compiled and run. Every ```cpp block of
// the guide appears here verbatim (tests/check_migration_snippets.py checks
// it), inside a test case that sets up what the guide takes as given (params,
// a loss closure) and checks that the snippet did what the guide says.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <unistd.h>

#include "descent/descent.h"

using namespace descent;
using namespace descent::optim;

namespace {

// A least-squares problem: params w [3, 2] and b [2], and a closure that
// recomputes the loss and its gradients.
struct Problem {
  Tensor x = randn({8, 3}, {}, &gen);
  Tensor y = randn({8, 2}, {}, &gen);
  Tensor w = randn({3, 2}, {}, &gen).requires_grad_();
  Tensor b = zeros({2}).requires_grad_();
  std::vector<Tensor> params{w, b};

  Tensor compute_loss() { return nn::functional::mse_loss(matmul(x, w) + b, y); }
  Tensor backward() {
    Tensor loss = compute_loss();
    loss.backward();
    return loss;
  }

 private:
  static inline Generator gen{0};
};

// Runs the body in a fresh temporary directory, so that the guide's relative
// file names ("run.dckpt") land there.
struct InTempDir {
  std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("descent-migration-" + std::to_string(::getpid()));
  InTempDir() {
    std::filesystem::create_directories(dir);
    std::filesystem::current_path(dir);
  }
  ~InTempDir() {
    std::filesystem::current_path(previous);
    std::filesystem::remove_all(dir);
  }
};

// Steps opt on p a few times and returns the loss before and after.
std::pair<double, double> train(Optimizer& opt, Problem& p, int steps = 20) {
  const double before = p.compute_loss().item();
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    p.backward();
    opt.step();
  }
  return {before, p.compute_loss().item()};
}

}  // namespace

TEST_SUITE("migration") {
  TEST_CASE("constructing each optimizer") {
    Problem p;
    auto params = p.params;
    SUBCASE("pointwise") {
      SGD sgd(params, Options<SGDOptions>().lr(0.1).momentum(0.9).nesterov(true));
      Adam adam(params, Options<AdamOptions>().lr(1e-3).betas({0.9, 0.999}).amsgrad(true));
      AdamW adamw(params, Options<AdamWOptions>().lr(3e-4).weight_decay(0.05));
      Adamax adamax(params, Options<AdamaxOptions>().lr(2e-3));
      Adadelta adadelta(params, Options<AdadeltaOptions>().lr(1.0).rho(0.9));
      Adagrad adagrad(params, Options<AdagradOptions>().lr(0.01).lr_decay(1e-4));
      ASGD asgd(params, Options<ASGDOptions>().lr(0.01).t0(100));
      NAdam nadam(params, Options<NAdamOptions>().lr(2e-3).momentum_decay(4e-3));
      RAdam radam(params, Options<RAdamOptions>().lr(1e-3).decoupled_weight_decay(true));
      RMSprop rmsprop(params, Options<RMSpropOptions>().lr(0.01).alpha(0.99).centered(true));
      Rprop rprop(params, Options<RpropOptions>().lr(0.01).etas({0.5, 1.2}));
      Adafactor adafactor(params, Options<AdafactorOptions>().lr(1e-2).beta2_decay(-0.8));
      CHECK(sgd.param_groups()[0]["nesterov"] == true);
      CHECK(adam.param_groups()[0]["amsgrad"] == true);
      CHECK(adamw.param_groups()[0]["weight_decay"] == 0.05);
      CHECK(adadelta.param_groups()[0]["rho"] == 0.9);
      CHECK(asgd.param_groups()[0]["t0"] == 100);
      CHECK(radam.param_groups()[0]["decoupled_weight_decay"] == true);
      CHECK(rmsprop.param_groups()[0]["centered"] == true);
      CHECK(rprop.param_groups()[0]["etas"].str() == "(0.5, 1.2)");
      CHECK(adafactor.param_groups()[0]["beta2_decay"] == -0.8);
      // Each one, from the same starting point, lowers the loss.
      const Tensor w0 = p.w.detach().clone(), b0 = p.b.detach().clone();
      for (Optimizer* opt : std::initializer_list<Optimizer*>{&sgd, &adam, &adamw, &adamax, &adadelta, &adagrad, &asgd,
                                                              &nadam, &radam, &rmsprop, &rprop, &adafactor}) {
        {
          autograd::NoGradGuard no_grad;
          p.w.copy_(w0);
          p.b.copy_(b0);
        }
        auto [before, after] = train(*opt, p);
        CHECK_MESSAGE(after < before, opt->name());
      }
    }
    SUBCASE("Muon: 2-D params only") {
      Tensor w = p.w;
      Muon muon({w}, Options<MuonOptions>().lr(0.02).momentum(0.95));
      auto [before, after] = train(muon, p);
      CHECK(after < before);
    }
    SUBCASE("SparseAdam: sparse gradients") {
      nn::Embedding embedding(10, 3, {.sparse = true});
      SparseAdam sparse_adam(embedding.parameters(), Options<SparseAdamOptions>().lr(1e-3));
      Tensor before = embedding.weight.clone();
      embedding(tensor(std::vector<int64_t>{1, 4}, {2})).sum().backward();
      sparse_adam.step();
      CHECK(embedding.weight[1].ne(before[1]).any().item<bool>());
      CHECK(embedding.weight[0].eq(before[0]).all().item<bool>());
    }
  }

  TEST_CASE("LBFGS needs a closure") {
    Problem p;
    auto params = p.params;
    auto compute_loss = [&] { return p.compute_loss(); };
    const double before = compute_loss().item();
    LBFGS lbfgs(params, Options<LBFGSOptions>().lr(1).history_size(10).line_search_fn("strong_wolfe"));
    auto closure = [&] {
      lbfgs.zero_grad();
      Tensor loss = compute_loss();
      loss.backward();
      return loss;
    };
    for (int i = 0; i < 5; ++i) lbfgs.step(closure);
    CHECK(compute_loss().item<double>() < 0.5 * before);
  }

  TEST_CASE("param groups") {
    Problem p;
    Tensor w = p.w, b = p.b;
    SGD opt({ParamGroup({w}), ParamGroup({b}, {{"lr", 0.01}})}, Options<SGDOptions>().lr(0.1).momentum(0.9));
    opt.param_groups()[0]["lr"] = 0.05;
    double lr = opt.param_groups()[1]["lr"];
    Tensor extra = zeros({4}).requires_grad_();
    opt.add_param_group(ParamGroup({extra}, {{"momentum", 0.0}}));
    CHECK(lr == 0.01);
    CHECK(opt.param_groups().size() == 3);
    CHECK(opt.param_groups()[0]["lr"] == 0.05);
    CHECK(opt.param_groups()[2]["lr"] == 0.1);
    CHECK(opt.param_groups()[2]["momentum"] == 0.0);
  }

  TEST_CASE("the training loop: zero_grad, backward, step") {
    Problem p;
    Adam opt(p.params, Options<AdamOptions>().lr(0.05));
    auto compute_loss = [&] { return p.compute_loss(); };
    const double first = compute_loss().item();
    for (int step = 0; step < 100; ++step) {
      opt.zero_grad();
      Tensor loss = compute_loss();
      loss.backward();
      opt.step();
    }
    opt.zero_grad(/*set_to_none=*/false);
    CHECK(compute_loss().item<double>() < first);
    CHECK(p.w.grad().defined());
    CHECK(p.w.grad().eq(0).all().item<bool>());
  }

  TEST_CASE("state_dict, load_state_dict, save and load") {
    InTempDir tmp;
    Problem p;
    nn::Linear model(3, 2);
    Adam opt(model.parameters(), Options<AdamOptions>().lr(1e-2));
    for (int i = 0; i < 3; ++i) {
      opt.zero_grad();
      nn::functional::mse_loss(model(p.x), p.y).backward();
      opt.step();
    }
    Dict sd = opt.state_dict();
    Tensor exp_avg = sd["state"][0]["exp_avg"].to_tensor();
    double steps = sd["state"][0]["step"];
    opt.load_state_dict(sd);
    CHECK(steps == 3);
    CHECK(exp_avg.sizes() == model.weight.sizes());

    save(Dict{{"model", to_value(model.state_dict())}, {"optim", opt.state_dict()}}, "run.dckpt");
    Dict ckpt = load("run.dckpt").to_dict();
    model.load_state_dict(to_named_tensors(ckpt.at("model")));
    opt.load_state_dict(ckpt.at("optim").to_dict());
    CHECK(equal(opt.state_dict()["state"][0]["exp_avg"].to_tensor(), exp_avg));

    save_pytorch(opt.state_dict(), "opt.pt");
    opt.load_state_dict(load_pytorch("opt.pt").to_dict());
    CHECK(equal(opt.state_dict()["state"][0]["exp_avg"].to_tensor(), exp_avg));
  }

  TEST_CASE("hooks") {
    Problem p;
    SGD opt(p.params, Options<SGDOptions>().lr(0.1));
    int steps_seen = 0;
    RemovableHandle handle = opt.register_step_post_hook([&](Optimizer&, const StepArgs&) { ++steps_seen; });
    RemovableHandle pre = opt.register_step_pre_hook([](Optimizer&, const StepArgs&) -> std::optional<StepArgs> {
      return std::nullopt;  // keep the arguments as they are
    });
    RemovableHandle post_load = opt.register_load_state_dict_post_hook([](Optimizer& o) { o.param_groups()[0]["lr"] = 0.01; });
    train(opt, p, 2);
    handle.remove();
    train(opt, p, 1);
    CHECK(steps_seen == 2);
    opt.load_state_dict(opt.state_dict());
    CHECK(opt.param_groups()[0]["lr"] == 0.01);
    pre.remove();
    post_load.remove();
  }

  TEST_CASE("chainable and closed-form schedulers") {
    Problem p;
    SGD opt(p.params, Options<SGDOptions>().lr(0.1).momentum(0.9));
    SUBCASE("StepLR") {
      lr::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
      for (int i = 0; i < 30; ++i) opt.step(), sched.step();
      double last = sched.get_last_lr()[0];
      CHECK(last == doctest::Approx(0.01));
    }
    SUBCASE("MultiStepLR") {
      lr::MultiStepLR sched(opt, /*milestones=*/{30, 80}, /*gamma=*/0.1);
      for (int i = 0; i < 80; ++i) opt.step(), sched.step();
      CHECK(double(sched.get_last_lr()[0]) == doctest::Approx(0.001));
    }
    SUBCASE("ConstantLR") {
      lr::ConstantLR sched(opt, /*factor=*/0.5, /*total_iters=*/4);
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.05));
    }
    SUBCASE("LinearLR") {
      lr::LinearLR sched(opt, /*start_factor=*/0.25, /*end_factor=*/1.0, /*total_iters=*/4);
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.025));
    }
    SUBCASE("ExponentialLR") {
      lr::ExponentialLR sched(opt, /*gamma=*/0.9);
      opt.step();
      sched.step();
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.09));
    }
    SUBCASE("PolynomialLR") {
      lr::PolynomialLR sched(opt, /*total_iters=*/4, /*power=*/2.0);
      for (int i = 0; i < 4; ++i) opt.step(), sched.step();
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.0));
    }
    SUBCASE("CosineAnnealingLR") {
      lr::CosineAnnealingLR sched(opt, /*T_max=*/100, /*eta_min=*/1e-4);
      for (int i = 0; i < 100; ++i) opt.step(), sched.step();
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(1e-4));
    }
    SUBCASE("LambdaLR and MultiplicativeLR") {
      lr::LambdaLR sched(opt, [](int64_t epoch) { return 1.0 / (1 + epoch); });
      opt.step();
      sched.step();
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.05));
      lr::MultiplicativeLR decay(opt, [](int64_t) { return 0.95; });
      opt.step();
      decay.step();
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.05 * 0.95));
    }
  }

  TEST_CASE("cyclic, restarting and composite schedulers") {
    Problem p;
    SGD opt(p.params, Options<SGDOptions>().lr(0.1).momentum(0.9));
    SUBCASE("CosineAnnealingWarmRestarts") {
      lr::CosineAnnealingWarmRestarts sched(opt, /*T_0=*/10, /*T_mult=*/2);
      for (int i = 0; i < 10; ++i) opt.step(), sched.step();
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.1));
    }
    SUBCASE("CyclicLR") {
      lr::CyclicLR sched(opt, /*base_lr=*/0.01, /*max_lr=*/0.1, {.step_size_up = 5, .mode = "triangular2"});
      for (int i = 0; i < 5; ++i) opt.step(), sched.step();
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.1));
      CHECK(double(opt.param_groups()[0]["momentum"]) == doctest::Approx(0.8));
    }
    SUBCASE("OneCycleLR") {
      lr::OneCycleLR sched(opt, /*max_lr=*/0.1, {.total_steps = 100});
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.1 / 25));
    }
    SUBCASE("SequentialLR") {
      auto warmup = std::make_shared<lr::LinearLR>(opt, 0.01, 1.0, 10);
      auto cosine = std::make_shared<lr::CosineAnnealingLR>(opt, 90);
      lr::SequentialLR sched(opt, {warmup, cosine}, /*milestones=*/{10});
      for (int i = 0; i < 10; ++i) opt.step(), sched.step();
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.1));
    }
    SUBCASE("ChainedScheduler") {
      auto constant = std::make_shared<lr::ConstantLR>(opt, 0.1, 2);
      auto exponential = std::make_shared<lr::ExponentialLR>(opt, 0.9);
      lr::ChainedScheduler sched({constant, exponential});
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.01));
    }
    SUBCASE("ReduceLROnPlateau") {
      lr::ReduceLROnPlateau sched(opt, {.mode = "min", .factor = 0.5, .patience = 5});
      double validation_loss = 1.0;
      for (int epoch = 0; epoch < 7; ++epoch) sched.step(validation_loss);
      CHECK(double(opt.param_groups()[0]["lr"]) == doctest::Approx(0.05));
    }
  }

  TEST_CASE("scheduler checkpoints") {
    Problem p;
    SGD opt(p.params, Options<SGDOptions>().lr(0.1));
    lr::StepLR sched(opt, 3);
    for (int i = 0; i < 4; ++i) opt.step(), sched.step();
    Dict saved = sched.state_dict();
    SGD opt2(p.params, Options<SGDOptions>().lr(0.1));
    lr::StepLR resumed(opt2, 3);
    resumed.load_state_dict(saved);
    CHECK(resumed.last_epoch == 4);
  }

  TEST_CASE("SWA and EMA") {
    Problem p;
    nn::Linear model(3, 2);
    Tensor x = p.x;
    auto loader = std::vector<Tensor>{x};
    auto train_one_epoch = [&](nn::Module& m, Optimizer& o) {
      o.zero_grad();
      nn::functional::mse_loss(m(p.x), p.y).backward();
      o.step();
    };
    SGD opt(model.parameters(), Options<SGDOptions>().lr(0.1).momentum(0.9));
    lr::CosineAnnealingLR schedule(opt, 100);
    swa_utils::AveragedModel swa_model(model);
    swa_utils::SWALR swa_scheduler(opt, /*swa_lr=*/0.05);
    for (int epoch = 0; epoch < 100; ++epoch) {
      train_one_epoch(model, opt);
      if (epoch >= 75) {
        swa_model.update_parameters(model);
        swa_scheduler.step();
      } else {
        schedule.step();
      }
    }
    swa_utils::update_bn(loader, swa_model);
    Tensor prediction = swa_model(x);
    CHECK(swa_model.n_averaged.item<int64_t>() == 25);
    CHECK(prediction.sizes() == Shape{8, 2});

    swa_utils::AveragedModel ema_model(model, {.multi_avg_fn = swa_utils::get_ema_multi_avg_fn(0.999)});
    for (int step = 0; step < 10; ++step) {
      train_one_epoch(model, opt);
      ema_model.update_parameters(model);
    }
    CHECK(ema_model.n_averaged.item<int64_t>() == 10);
  }
}
