// What the generic suite does not cover for Adafactor and Muon: Adafactor's
// state shapes and its choice of epsilon1, Muon's Newton–Schulz iteration and
// lr adjustment, a matrix problem each must solve, the foreach ops they use.
#include <doctest/doctest.h>

#include <cmath>

#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

TEST_CASE("Adafactor: factored state for >= 2-D params, a full variance otherwise") {
  Tensor scalar = randn({}).requires_grad_(), vector = randn({4}).requires_grad_(),
         matrix = randn({3, 2}).requires_grad_(), batched = randn({2, 3, 4}).requires_grad_();
  optim::Adafactor opt(Params{scalar, vector, matrix, batched});
  for (Tensor* p : {&scalar, &vector, &matrix, &batched}) p->set_grad(randn(p->sizes()));
  opt.step();
  CHECK(opt.state()[scalar].at("variance").to_tensor().sizes() == Shape{});
  CHECK(opt.state()[vector].at("variance").to_tensor().sizes() == Shape{4});
  CHECK(opt.state()[matrix].at("row_var").to_tensor().sizes() == Shape{3, 1});
  CHECK(opt.state()[matrix].at("col_var").to_tensor().sizes() == Shape{1, 2});
  CHECK(opt.state()[batched].at("row_var").to_tensor().sizes() == Shape{2, 3, 1});
  CHECK(opt.state()[batched].at("col_var").to_tensor().sizes() == Shape{2, 1, 4});
  CHECK_FALSE(opt.state()[matrix].contains("variance"));
  const Tensor& step = opt.state()[matrix].at("step").to_tensor();
  CHECK(step.dtype() == kFloat32);
  CHECK(step.dim() == 0);
  CHECK(step.item<double>() == 1.0);
  // At the first step the lerp weight is 1: the factors are the grad's row and column means of g².
  Tensor g = matrix.grad();
  CHECK(allclose(opt.state()[matrix].at("row_var").to_tensor(), (g * g).mean({-1}, true), 1e-6, 0));
  CHECK(allclose(opt.state()[matrix].at("col_var").to_tensor(), (g * g).mean({-2}, true), 1e-6, 0));
}

// epsilon1 = None: the forloop takes the first param's machine epsilon for
// every param, PyTorch's foreach that of the (device, dtype) group it visits
// first (of two, the one seen last). Tiny grads make the eps1^2 clamp bind.
TEST_CASE("Adafactor: epsilon1 None takes one dtype's epsilon for the whole group") {
  auto run = [](bool foreach, const Value& eps1) {
    Generator gen(5);
    std::vector<Tensor> params{randn({3, 2}, {}, &gen).requires_grad_(),
                               randn({4}, {.dtype = kFloat64}, &gen).requires_grad_()};
    optim::Adafactor opt(Params(params), {.eps = {eps1, 1e-3}, .foreach = foreach});
    for (int i = 0; i < 3; ++i) {
      for (Tensor& p : params) p.set_grad(randn(p.sizes(), {.dtype = p.dtype()}, &gen) * 1e-9);
      opt.step();
    }
    return params;
  };
  const double f32 = 0x1p-23, f64 = 0x1p-52;
  auto forloop = run(false, Value()), forloop_f32 = run(false, f32), forloop_f64 = run(false, f64);
  auto foreach = run(true, Value()), foreach_f64 = run(true, f64);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(equal(forloop[i], forloop_f32[i]));
    CHECK(equal(foreach[i], foreach_f64[i]));
  }
  // The clamp binds: the choice shows in the float64 param.
  CHECK_FALSE(equal(forloop[1], forloop_f64[1]));
}

TEST_CASE("Adafactor: a 2 x 3 x 4 least-squares problem converges, forloop and foreach alike") {
  for (bool foreach : {false, true}) {
    INFO("foreach=", foreach);
    Generator gen(3);
    Tensor target = randn({2, 3, 4}, {}, &gen);
    Tensor w = zeros({2, 3, 4}).requires_grad_();
    optim::Adafactor opt(Params{w}, {.lr = 0.1, .foreach = foreach});
    auto loss = [&] { return ((w - target) * (w - target)).sum(); };
    const double initial = loss().item<double>();
    for (int i = 0; i < 300; ++i) {
      opt.zero_grad();
      loss().backward();
      opt.step();
    }
    CHECK(loss().item<double>() < 1e-2 * initial);
  }
}

// fused=True (descent's extension) against the forloop, bit for bit: a
// batched 3-D param (one matrix mean per leading index), a matrix, a vector
// and a 0-dim param, in float32 and float64, a mixed-dtype group whose
// epsilon1 None follows the forloop's rule, maximize and weight decay.
TEST_CASE("Adafactor: fused equals the forloop bit for bit") {
  struct Case {
    std::vector<Dtype> dtypes;
    Dict kwargs;
  };
  const std::vector<Case> cases = {{{kFloat32}, {}},
                                   {{kFloat64}, {{"weight_decay", 0.1}, {"maximize", true}}},
                                   {{kFloat32, kFloat64}, {{"d", 1.5}, {"beta2_decay", -0.5}}},
                                   {{kFloat64, kFloat32}, {{"lr", scalar_tensor(0.05, {.dtype = kFloat32})}}}};
  const std::vector<Shape> shapes = {{2, 3, 4}, {5, 3}, {7}, {}};
  for (const Case& c : cases)
    for (bool tiny : {false, true}) {
      INFO(describe(c.kwargs), " tiny grads ", tiny);
      auto run = [&](bool fused) {
        Generator gen(11);
        std::vector<Tensor> params;
        for (std::size_t i = 0; i < shapes.size(); ++i)
          params.push_back(randn(shapes[i], {.dtype = c.dtypes[i % c.dtypes.size()]}, &gen).requires_grad_());
        Dict kwargs = c.kwargs;
        kwargs.set("fused", fused);
        auto opt = optim::make_optimizer("Adafactor", Params(params), kwargs);
        for (int step = 0; step < 4; ++step) {
          // Tiny grads make the ε1² clamp bind, so ε1's dtype shows.
          for (Tensor& p : params) p.set_grad(randn(p.sizes(), {.dtype = p.dtype()}, &gen) * (tiny ? 1e-9 : 1.0));
          opt->step();
        }
        std::vector<Tensor> out = params;
        for (const Tensor& p : params)
          for (const auto& [key, value] : opt->state()[p])
            if (value.is_tensor()) out.push_back(value.to_tensor());
        return out;
      };
      const std::vector<Tensor> forloop = run(false), fused = run(true);
      REQUIRE(forloop.size() == fused.size());
      for (std::size_t i = 0; i < forloop.size(); ++i) {
        INFO("tensor ", i);
        CHECK(equal(forloop[i], fused[i]));
      }
    }
}

TEST_CASE("Adafactor: fused=True rejects what its kernels cannot read") {
  CHECK_THROWS_WITH_AS(optim::Adafactor(Params{randn({2, 2}).requires_grad_()}, {.foreach = true, .fused = true}),
                       doctest::Contains("`fused` and `foreach` cannot be `True` together"), RuntimeError);
  Tensor p = randn({3, 2}).requires_grad_();
  p.set_grad(randn({2, 3}).t());  // the param's shape, not contiguous
  optim::Adafactor opt(Params{p}, {.fused = true});
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("`fused=True` needs each param's grad to be a dense tensor"),
                       RuntimeError);
  CHECK(opt.state()[p].empty());  // nothing was started
  Tensor q = randn({4}).requires_grad_();
  q.set_grad(randn({4}));
  optim::Adafactor started(Params{q}, {.fused = true});
  started.step();
  started.state()[q].set("variance", zeros({2}));
  CHECK_THROWS_WITH_AS(started.step(), doctest::Contains("`fused=True` needs each param's variance"), RuntimeError);
}

TEST_CASE("Muon: Newton-Schulz gives a bfloat16 near-orthogonal matrix of the input's shape") {
  Generator gen(11);
  for (Shape shape : {Shape{8, 3}, Shape{3, 8}, Shape{5, 5}}) {
    INFO(shape_to_string(shape));
    Tensor g = randn(shape, {.dtype = kFloat64}, &gen);
    Tensor o = optim::zeropower_via_newtonschulz(g, {3.4445, -4.775, 2.0315}, 5, 1e-7);
    CHECK(o.dtype() == kBFloat16);
    CHECK(o.sizes() == shape);
    // U S' Vᵀ with S' roughly in [0.5, 1.5] (the quintic's design): the
    // Gram matrix of the short side is near the identity.
    Tensor of = o.to(kFloat64);
    Tensor gram = shape[0] <= shape[1] ? of.matmul(of.t()) : of.t().matmul(of);
    const int64_t n = gram.sizes()[0];
    for (int64_t i = 0; i < n; ++i) {
      const double d = gram.select(0, i).select(0, i).item<double>();
      CHECK(d > 0.25);
      CHECK(d < 2.25);
    }
  }
  // A zero matrix stays zero (the norm is clamped at eps, not divided by).
  Tensor zero = optim::zeropower_via_newtonschulz(zeros({2, 3}), {3.4445, -4.775, 2.0315}, 5, 1e-7);
  CHECK(equal(zero, zeros({2, 3}, {.dtype = kBFloat16})));
}

TEST_CASE("Muon: Newton-Schulz argument errors, in PyTorch's order") {
  const std::vector<double> abc{3.4445, -4.775, 2.0315};
  CHECK_THROWS_WITH_AS(optim::zeropower_via_newtonschulz(zeros({2, 3, 4}), {1.0}, 100, 1e-7),
                       doctest::Contains("Number of steps must be less than 100 for computational efficiency"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::zeropower_via_newtonschulz(zeros({2, 3, 4}), {1.0}, 5, 1e-7),
                       doctest::Contains("Input tensor gradient must be a 2D matrix"), ValueError);
  CHECK_THROWS_WITH_AS(optim::zeropower_via_newtonschulz(zeros({2, 3}), {1.0, 2.0}, 5, 1e-7),
                       doctest::Contains("Coefficients must be a tuple of exactly 3 values"), ValueError);
  CHECK_NOTHROW(optim::zeropower_via_newtonschulz(zeros({2, 3}), abc, 0, 1e-7));
}

// The update's size follows adjust_lr_fn: with lr γ, no decay and the same
// grads, θ moves by γ·ratio·NS(u), so the moves of two settings differ by
// the ratio of their factors.
TEST_CASE("Muon: adjust_lr_fn scales the update by PyTorch's factors") {
  const Shape shape{8, 2};
  auto move = [&](const Value& fn) {
    Generator gen(4);
    Tensor p = randn(shape, {}, &gen).requires_grad_();
    Tensor before = p.detach().clone();
    auto opt = optim::make_optimizer("Muon", Params{p}, Dict{{"weight_decay", 0.0}, {"adjust_lr_fn", fn}});
    p.set_grad(randn(shape, {}, &gen));
    opt->step();
    return (p.detach() - before).to(kFloat64);
  };
  Tensor original = move(Value()), named = move("original"), rms = move("match_rms_adamw"),
         spectral = move("spectral_unclamped");
  CHECK(equal(original, named));
  CHECK(allclose(rms, original * (0.2 * std::sqrt(8.0) / std::sqrt(4.0)), 1e-3, 1e-7));
  CHECK(allclose(spectral, original, 1e-3, 1e-7));  // A/B = 4 > 1: unclamped equals clamped
}

TEST_CASE("Muon: a matrix regression converges; nesterov on and off") {
  for (bool nesterov : {true, false}) {
    INFO("nesterov=", nesterov);
    Generator gen(21);
    Tensor x = randn({16, 6}, {}, &gen), w_true = randn({4, 6}, {}, &gen);
    Tensor y = x.matmul(w_true.t());
    Tensor w = zeros({4, 6}).requires_grad_();
    optim::Muon opt(Params{w}, {.lr = 0.02, .weight_decay = 0.0, .nesterov = nesterov});
    auto loss = [&] {
      Tensor r = x.matmul(w.t()) - y;
      return (r * r).mean();
    };
    const double initial = loss().item<double>();
    for (int i = 0; i < 400; ++i) {
      opt.zero_grad();
      loss().backward();
      opt.step();
    }
    CHECK(loss().item<double>() < 1e-2 * initial);
    CHECK(opt.state()[w].at("momentum_buffer").to_tensor().sizes() == Shape{4, 6});
    CHECK_FALSE(opt.state()[w].contains("step"));
  }
}

TEST_CASE("Adafactor and Muon: options, repr and state_dict as PyTorch's") {
  Tensor p = randn({3, 2}).requires_grad_();
  optim::Adafactor adafactor(Params{p});
  CHECK(adafactor.repr() ==
        "Adafactor (\nParameter Group 0\n    beta2_decay: -0.8\n    d: 1.0\n    eps: (None, 0.001)\n"
        "    foreach: None\n    fused: None\n    lr: 0.01\n    maximize: False\n    weight_decay: 0.0\n)");
  optim::Muon muon(Params{p});
  CHECK(muon.repr() ==
        "Muon (\nParameter Group 0\n    adjust_lr_fn: None\n    eps: 1e-07\n    lr: 0.001\n    momentum: 0.95\n"
        "    nesterov: True\n    ns_coefficients: (3.4445, -4.775, 2.0315)\n    ns_steps: 5\n"
        "    weight_decay: 0.1\n)");
  // A state dict round trip continues the same trajectory.
  for (const char* name : {"Adafactor", "Muon"}) {
    INFO(name);
    Generator gen(8);
    Tensor a = randn({3, 2}, {}, &gen).requires_grad_(), b = a.detach().clone().requires_grad_();
    auto first = optim::make_optimizer(name, Params{a});
    for (int i = 0; i < 2; ++i) {
      a.set_grad(randn({3, 2}, {}, &gen));
      first->step();
    }
    b.detach().copy_(a.detach());
    auto second = optim::make_optimizer(name, Params{b});
    second->load_state_dict(deepcopy(first->state_dict()).to_dict());
    Tensor g = randn({3, 2}, {}, &gen);
    a.set_grad(g);
    b.set_grad(g.clone());
    first->step();
    second->step();
    CHECK(equal(a, b));
  }
}

TEST_CASE("foreach ops: list-by-list and per-tensor scalars, as the per-tensor ops") {
  Generator gen(2);
  TensorList a{rand({3}, {}, &gen) + 0.5, rand({2, 2}, {}, &gen) + 0.5};
  TensorList b{rand({3}, {}, &gen) + 0.5, rand({2, 2}, {}, &gen) + 0.5};
  const std::vector<Scalar> s{0.25, 0.75};
  TensorList x = {a[0].clone(), a[1].clone()};
  CHECK(equal(_foreach_mul(a, b)[1], a[1] * b[1]));
  _foreach_mul_(x, b);
  _foreach_div_(x, b);
  _foreach_mul_(x, s);
  _foreach_lerp_(x, b, s);
  _foreach_clamp_min_(x, 0.4);
  _foreach_rsqrt_(x);
  for (std::size_t i = 0; i < 2; ++i) {
    Tensor y = a[i].mul(b[i]).div(b[i]).mul(s[i]).lerp(b[i], s[i]).clamp_min(0.4).rsqrt();
    CHECK(equal(x[i], y));
  }
  TensorList one{a[0]};
  CHECK_THROWS_WITH_AS(_foreach_lerp_(one, b, s), doctest::Contains("tensor lists must have the same number"),
                       ValueError);
  CHECK_THROWS_AS(_foreach_mul_(one, s), ValueError);
  CHECK_THROWS_AS(_foreach_div_(one, b), ValueError);
}
