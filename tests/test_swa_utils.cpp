// SWA / EMA utilities (shared/spec/swa-utils.md, test-catalogue.md §3):
// averaging functions, AveragedModel, update_bn and SWALR.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <utility>

#include "descent/autograd/nn.h"
#include "descent/optim/checkpoint.h"
#include "descent/optim/swa_utils.h"
#include "lr_scheduler_testing.h"

using namespace descent;
using namespace descent::testing;
using namespace descent::optim::swa_utils;

namespace {

// PyTorch's default float32 comparison (rtol 1.3e-6, atol 1e-5).
void check_close(const Tensor& actual, const Tensor& expected, double rtol = 1.3e-6, double atol = 1e-5) {
  const std::string diff = compare_tensors(actual, expected, rtol, atol);
  CHECK_MESSAGE(diff.empty(), diff);
}

std::shared_ptr<nn::Sequential> make_model(double bn_momentum = 0.3) {
  return std::make_shared<nn::Sequential>(nn::Linear(3, 5), nn::BatchNorm1d(5, {.momentum = bn_momentum}),
                                          nn::ReLU(), nn::Linear(5, 2));
}

// Adds noise to every parameter (and every non-scalar floating buffer when asked).
void perturb(nn::Module& model, bool buffers = false) {
  autograd::NoGradGuard no_grad;
  for (Tensor& p : model.parameters()) p.add_(randn(p.sizes()));
  if (buffers)
    for (Tensor& b : model.buffers())
      if (b.dim() > 0 && b.is_floating_point()) b.add_(rand(b.sizes()));
}

std::vector<Tensor> snapshot(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.detach().clone());
  return out;
}

}  // namespace

TEST_SUITE("swa_utils") {
  TEST_CASE("averaging functions compute PyTorch's formulas") {
    const Tensor avg = tensor({1.0, 2.0}, {.dtype = kFloat64});
    const Tensor cur = tensor({4.0, 8.0}, {.dtype = kFloat64});
    const Tensor n = scalar_tensor(int64_t{2});
    check_close(get_swa_avg_fn()(avg, cur, n), tensor({2.0, 4.0}, {.dtype = kFloat64}), 1e-12, 0);
    check_close(get_ema_avg_fn(0.75)(avg, cur, n), tensor({1.75, 3.5}, {.dtype = kFloat64}), 1e-12, 0);

    std::vector<Tensor> avgs{avg.clone()};
    get_ema_multi_avg_fn(0.75)(avgs, {cur}, n);
    check_close(avgs[0], tensor({1.75, 3.5}, {.dtype = kFloat64}), 1e-12, 0);

    // The SWA lerp weight is 1 / (n + 1) evaluated on the int64 tensor, i.e. in
    // float32 even for float64 tensors, as PyTorch does.
    std::vector<Tensor> zero{zeros({1}, {.dtype = kFloat64})};
    get_swa_multi_avg_fn()(zero, {ones({1}, {.dtype = kFloat64})}, n);
    CHECK(zero[0].item<double>() == 0x1.5555560000000p-2);

    std::vector<Tensor> ints{tensor({10, 20}, {.dtype = kInt64})};
    get_ema_multi_avg_fn(0.5)(ints, {tensor({1, 2}, {.dtype = kInt64})}, n);
    CHECK(ints[0].to_vector<int64_t>() == std::vector<int64_t>{5, 11});
    CHECK_THROWS_AS(get_swa_multi_avg_fn()(ints, {ints[0]}, n), RuntimeError);

    CHECK_THROWS_WITH_AS(get_ema_avg_fn(1.5),
                         "Invalid decay value 1.5 provided. Please provide a value in [0,1] range.",
                         ValueError);
    CHECK_THROWS_WITH_AS(get_ema_multi_avg_fn(-0.1), doctest::Contains("Invalid decay value -0.1"),
                         ValueError);
  }

  TEST_CASE("AveragedModel: SWA is the mean of the snapshots, EMA the exponential average") {
    for (const std::string mode : {"default", "swa_multi", "ema_multi", "ema_avg_fn"}) {
      INFO(mode);
      manual_seed(0);
      auto model = make_model();
      const double decay = 0.999;
      AveragedModelOptions options;
      if (mode == "swa_multi") options.multi_avg_fn = get_swa_multi_avg_fn();
      if (mode == "ema_multi") options.multi_avg_fn = get_ema_multi_avg_fn(decay);
      if (mode == "ema_avg_fn") options.avg_fn = get_ema_avg_fn(decay);
      AveragedModel averaged(*model, options);
      const bool ema = mode.rfind("ema", 0) == 0;
      std::vector<Tensor> expected;
      for (const Tensor& p : model->parameters()) expected.push_back(zeros_like(p));
      const int updates = 10;
      for (int i = 0; i < updates; ++i) {
        perturb(*model);
        const auto params = model->parameters();
        for (std::size_t k = 0; k < params.size(); ++k) {
          if (ema) {
            const double weight = std::pow(decay, updates - 1 - i) * (i > 0 ? 1 - decay : 1.0);
            expected[k] = expected[k] + params[k].detach() * weight;
          } else {
            expected[k] = expected[k] + params[k].detach() / updates;
          }
        }
        averaged.update_parameters(*model);
      }
      const auto params = averaged.module->parameters();
      REQUIRE(params.size() == expected.size());
      for (std::size_t k = 0; k < params.size(); ++k) check_close(params[k], expected[k]);
      CHECK(averaged.n_averaged.item<int64_t>() == updates);
      CHECK(averaged.n_averaged.dtype() == kInt64);
      // Buffers follow the source model when they are not averaged.
      const auto own = averaged.module->buffers();
      const auto source = model->buffers();
      for (std::size_t k = 0; k < own.size(); ++k) CHECK(equal(own[k], source[k]));
    }
  }

  TEST_CASE("AveragedModel EMA with use_buffers averages the buffers too") {
    for (bool use_multi : {true, false}) {
      for (bool use_buffers : {true, false}) {
        INFO("use_multi_avg_fn=", use_multi, " use_buffers=", use_buffers);
        manual_seed(1);
        auto model = make_model();
        const double decay = 0.9;
        AveragedModelOptions options{.use_buffers = use_buffers};
        if (use_multi) {
          options.multi_avg_fn = get_ema_multi_avg_fn(decay);
        } else {
          options.avg_fn = [decay](const Tensor& avg, const Tensor& cur, const Tensor&) {
            return decay * avg + (1 - decay) * cur;
          };
        }
        AveragedModel averaged(*model, options);
        auto tracked = [&](nn::Module& m) {
          std::vector<Tensor> out = m.parameters();
          if (use_buffers)
            for (const Tensor& b : m.buffers())
              if (b.dim() > 0) out.push_back(b);
          return out;
        };
        std::vector<Tensor> expected;
        for (int i = 0; i < 10; ++i) {
          perturb(*model, use_buffers);
          const auto now = snapshot(tracked(*model));
          if (expected.empty()) {
            expected = now;
          } else {
            for (std::size_t k = 0; k < now.size(); ++k)
              expected[k] = expected[k] * decay + now[k] * (1 - decay);
          }
          averaged.update_parameters(*model);
        }
        const auto got = tracked(*averaged.module);
        REQUIRE(got.size() == expected.size());
        for (std::size_t k = 0; k < got.size(); ++k) check_close(got[k], expected[k]);
        if (!use_buffers) {
          const auto own = averaged.module->buffers();
          const auto source = model->buffers();
          for (std::size_t k = 0; k < own.size(); ++k) CHECK(equal(own[k], source[k]));
        }
      }
    }
  }

  TEST_CASE("AveragedModel with use_buffers averages an int64 buffer in floating point and truncates it") {
    manual_seed(2);
    nn::BatchNorm1d bn(2);
    AveragedModel averaged(bn, {.use_buffers = true});
    const std::vector<int64_t> counts{1, 2, 4};
    for (int64_t c : counts) {
      bn.num_batches_tracked.fill_(c);
      averaged.update_parameters(bn);
    }
    // mean(1, 2, 4) = 2.33..., truncated per update: 1, then 1 + (2-1)/2 -> 1, then 1 + (4-1)/3 = 2.
    CHECK(averaged.module->buffers().back().item<int64_t>() == 2);
  }

  TEST_CASE("AveragedModel validation, state dict and checkpoint round trip") {
    auto model = make_model();
    CHECK_THROWS_WITH_AS(
        AveragedModel(*model, {.avg_fn = get_swa_avg_fn(), .multi_avg_fn = get_swa_multi_avg_fn()}),
        "Only one of avg_fn and multi_avg_fn should be provided", ValueError);
    AveragedModel a(*model);
    for (int i = 0; i < 10; ++i) {
      perturb(*model);
      a.update_parameters(*model);
    }
    AveragedModel b(*make_model());
    const nn::NamedTensors state = a.state_dict();
    bool has_counter = false;
    for (const auto& [name, t] : state) has_counter = has_counter || name == "n_averaged";
    CHECK(has_counter);

    Dict saved;
    for (const auto& [name, t] : state) saved.set(name, Value(t));
    const auto path = std::filesystem::temp_directory_path() / "descent_test_swa_state.dckpt";
    save(Value(saved), path);
    nn::NamedTensors restored;
    const Value loaded = load(path);
    for (const auto& [key, value] : loaded.to_dict())
      restored.emplace_back(std::get<std::string>(key), value.to_tensor());
    std::filesystem::remove(path);
    b.load_state_dict(restored);
    const auto pa = a.module->parameters();
    const auto pb = b.module->parameters();
    for (std::size_t k = 0; k < pa.size(); ++k) CHECK(equal(pa[k], pb[k]));
    CHECK(b.n_averaged.item<int64_t>() == 10);
    // forward goes through the averaged copy.
    a.module->eval();
    const Tensor x = randn({4, 3});
    CHECK(equal(a(x), (*a.module)(x)));
  }

  TEST_CASE("update_bn recomputes running statistics from the loader and restores the mode") {
    manual_seed(3);
    auto linear = std::make_shared<nn::Linear>(5, 100);
    auto bn = std::make_shared<nn::BatchNorm1d>(100, nn::BatchNormOptions{.momentum = 0.3});
    nn::Sequential model(std::vector<std::shared_ptr<nn::Module>>{linear, bn});
    const Tensor x = rand({100, 5}) * 2 + 1;
    const Tensor y = rand({100});
    std::vector<Tensor> inputs;
    std::vector<std::pair<Tensor, Tensor>> pairs;
    for (int64_t i = 0; i < 100; i += 5) {
      inputs.push_back(x.narrow(0, i, 5));
      pairs.emplace_back(x.narrow(0, i, 5), y.narrow(0, i, 5));
    }
    Tensor activations;
    {
      autograd::NoGradGuard no_grad;
      activations = (*linear)(x);
    }
    const Tensor mean = activations.mean({0});
    const Tensor var = ((activations - mean) * (activations - mean)).mean({0});

    update_bn(pairs, model);
    check_close(bn->running_mean, mean);
    check_close(bn->running_var, var, 0, 0.1);
    CHECK(model.is_training());
    CHECK(bn->momentum == 0.3);

    bn->running_mean.fill_(1.0);
    bn->running_var.fill_(5.0);
    bn->num_batches_tracked.fill_(7);
    update_bn(inputs, model);
    check_close(bn->running_mean, mean);
    check_close(bn->running_var, var, 0, 0.1);
    CHECK(bn->num_batches_tracked.item<int64_t>() == 20);
  }

  TEST_CASE("update_bn over [N, C, L] inputs averages over batch and positions; eval mode survives") {
    manual_seed(4);
    auto bn = std::make_shared<nn::BatchNorm1d>(3, nn::BatchNormOptions{.momentum = 0.3});
    nn::Sequential model(std::vector<std::shared_ptr<nn::Module>>{bn});
    model.eval();
    const Tensor x = randn({100, 3, 4}) - 1;
    std::vector<std::vector<Tensor>> loader;
    Tensor unbiased = zeros({3});
    for (int64_t i = 0; i < 100; i += 5) {
      const Tensor batch = x.narrow(0, i, 5);
      loader.push_back({batch, Tensor()});
      const Tensor centred = batch - batch.mean({0, 2}).reshape({1, 3, 1});
      unbiased = unbiased + (centred * centred).sum({0, 2}) / 19.0 / 20.0;
    }
    update_bn(loader, model);
    const Tensor mean = x.mean({0, 2});
    const Tensor centred = x - mean.reshape({1, 3, 1});
    check_close(bn->running_mean, mean);
    // The mean of the per-batch unbiased variances, close to the population variance.
    check_close(bn->running_var, unbiased);
    check_close(bn->running_var, (centred * centred).mean({0, 2}), 0, 0.1);
    CHECK_FALSE(model.is_training());
    CHECK(bn->momentum == 0.3);

    nn::Sequential plain(nn::Linear(2, 2));
    plain.eval();
    update_bn(std::vector<Tensor>{randn({3, 2})}, plain);
    CHECK_FALSE(plain.is_training());
  }

  TEST_CASE("AveragedModel keeps its copy on the requested device and follows mixed-device models [GPU]") {
    if (!cuda::is_available()) {
      MESSAGE("skipped: no CUDA device");
      return;
    }
    manual_seed(5);
    auto model = make_model();
    AveragedModel on_gpu(*model, {.device = Device(kCUDA, 0), .multi_avg_fn = get_ema_multi_avg_fn(0.9)});
    AveragedModel swa_gpu(*model, {.device = Device(kCUDA, 0)});
    std::vector<Tensor> ema;
    std::vector<Tensor> mean;
    for (int i = 0; i < 5; ++i) {
      perturb(*model);
      const auto now = snapshot(model->parameters());
      for (std::size_t k = 0; k < now.size(); ++k) {
        if (i == 0) {
          ema.push_back(now[k]);
          mean.push_back(now[k] / 5);
        } else {
          ema[k] = ema[k] * 0.9 + now[k] * (1 - 0.9);
          mean[k] = mean[k] + now[k] / 5;
        }
      }
      on_gpu.update_parameters(*model);
      swa_gpu.update_parameters(*model);
    }
    const auto got = on_gpu.module->parameters();
    const auto swa = swa_gpu.module->parameters();
    for (std::size_t k = 0; k < got.size(); ++k) {
      CHECK(got[k].is_cuda());
      CHECK(model->parameters()[k].is_cpu());
      check_close(got[k].cpu(), ema[k]);
      check_close(swa[k].cpu(), mean[k]);
    }
    CHECK(on_gpu.n_averaged.is_cuda());
    CHECK(on_gpu.n_averaged.cpu().item<int64_t>() == 5);

    // Mixed devices with device = none: each averaged tensor stays with its source.
    auto mixed = make_model();
    mixed->at<nn::Linear>(0)->to(Device(kCUDA, 0));
    AveragedModel follow(*mixed);
    perturb(*mixed);
    follow.update_parameters(*mixed);
    const auto source = mixed->parameters();
    const auto copy = follow.module->parameters();
    for (std::size_t k = 0; k < source.size(); ++k) {
      CHECK(copy[k].device() == source[k].device());
      CHECK(equal(copy[k].cpu(), source[k].cpu()));
    }
  }

  TEST_CASE("SWALR follows PyTorch: constant swa_lr, cosine and linear annealing, zero epochs") {
    {
      SchedulerFixture f;
      SWALR s(f.opt, 0.01, 1);
      Recording rec;
      for (int e = 0; e < 12; ++e) {
        rec.record(f.opt, false);
        f.opt.step();
        if (e >= 5) s.step();
      }
      check_golden(rec, "swalr.txt", "swalr_no_anneal");
    }
    const std::map<std::string, std::function<std::unique_ptr<SWALR>(Optimizer&)>> cases{
        {"swalr_cos_after_multiplicative", [](Optimizer& o) { return std::make_unique<SWALR>(o, 0.01, 5); }},
        {"swalr_linear_groups",
         [](Optimizer& o) {
           return std::make_unique<SWALR>(o, PerGroup{0.01, 0.02}, 4, "linear");
         }},
        {"swalr_zero_epochs", [](Optimizer& o) { return std::make_unique<SWALR>(o, 0.02, 0); }}};
    for (const auto& [name, build] : cases) {
      SchedulerFixture f;
      MultiplicativeLR mult(f.opt, [](int64_t) { return 0.9; });
      std::unique_ptr<SWALR> swa;
      const int epochs = static_cast<int>(golden("swalr.txt", name).tensor("lr0").numel());
      check_golden(run(f.opt, epochs,
                       [&](int e) {
                         if (e < 5) {
                           mult.step();
                           return;
                         }
                         if (!swa) swa = build(f.opt);
                         swa->step();
                       }),
                   "swalr.txt", name);
    }
  }

  TEST_CASE("SWALR validation, group entries and state dict") {
    SchedulerFixture f;
    CHECK_THROWS_WITH_AS(SWALR(f.opt, PerGroup{0.01, 0.02, 0.03}),
                         doctest::Contains("swa_lr must have the same length"), ValueError);
    CHECK_THROWS_WITH_AS(SWALR(f.opt, 0.01, 10, "exponential"),
                         "anneal_strategy must be one of 'cos' or 'linear', instead got exponential",
                         ValueError);
    CHECK_THROWS_WITH_AS(SWALR(f.opt, 0.01, -1), "anneal_epochs must be equal or greater than 0, got -1",
                         ValueError);
    // As in PyTorch, swa_lr is written into the groups before the later checks run.
    CHECK(f.opt.param_groups()[0].at("swa_lr").to_double() == 0.01);
    CHECK_FALSE(f.opt.param_groups()[0].contains("initial_lr"));

    SWALR a(f.opt, 0.5, 3);
    CHECK(f.opt.param_groups()[1].at("swa_lr").to_double() == 0.5);
    for (int i = 0; i < 10; ++i) {
      f.opt.step();
      a.step();
      CHECK(f.opt.param_groups()[0].at("swa_lr").to_double() == 0.5);
    }
    SchedulerFixture g;
    SWALR b(g.opt, 5.0, 10, "linear");
    b.load_state_dict(a.state_dict());
    CHECK(b.anneal_strategy == "cos");
    CHECK(b.anneal_epochs == 3);
    CHECK(Value(b.state_dict()) == Value(a.state_dict()));
  }

}  // TEST_SUITE
