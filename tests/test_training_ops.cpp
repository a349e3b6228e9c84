// The ops a training loop needs beyond the core: sin, cos, erf,
// index_select, gather, randperm, Generator state, and the Dropout,
// LayerNorm and GELU modules. Values and gradients against PyTorch
// (scripts/fixtures/training_ops.py), gradcheck/gradgradcheck, and the
// properties of the random ones (which use descent's own stream).
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "descent/descent.h"
#include "tensor_testing.h"

using namespace descent;
using descent::testing::FixtureCase;
using descent::testing::load_fixture;
namespace ag = descent::autograd;
namespace F = descent::nn::functional;

namespace {
using In = std::vector<Tensor>;

void check_close(const Tensor& actual, const Tensor& expected, const std::string& what) {
  CAPTURE(what);
  REQUIRE(actual.defined());
  const bool f64 = expected.dtype() == kFloat64;
  testing::Tolerance tol{f64 ? 1e-12 : 2e-6, f64 ? 1e-14 : 1e-6};
  std::string diff = testing::mismatch(actual.detach(), expected, tol);
  CHECK_MESSAGE(diff.empty(), diff);
}

// The forward of a fixture case, on leaves made from its inputs.
Tensor run_case(const FixtureCase& c, const std::map<std::string, Tensor>& t) {
  const std::string op = testing::config(c, "op");
  const int64_t dim = testing::config_int(c, "dim");
  if (op == "sin") return sin(t.at("x"));
  if (op == "cos") return t.at("x").cos();
  if (op == "erf") return erf(t.at("x"));
  if (op == "gelu") return F::gelu(t.at("x"), testing::config(c, "approximate"));
  if (op == "index_select") return index_select(t.at("x"), dim, c.tensor("index"));
  if (op == "gather") return t.at("x").gather(dim, c.tensor("index"));
  REQUIRE(op == "layer_norm");
  const Tensor& x = t.at("x");
  const int64_t k = testing::config_int(c, "normalized");
  Shape normalized(x.sizes().end() - k, x.sizes().end());
  Tensor w = t.count("w") ? t.at("w") : Tensor(), b = t.count("b") ? t.at("b") : Tensor();
  return F::layer_norm(x, normalized, w, b, testing::config_double(c, "eps"));
}

Tensor rnd(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return randn(shape, {.dtype = kFloat64}, &g).requires_grad_();
}

void check_op(const std::string& name, const std::function<Tensor(const In&)>& fn, const In& inputs) {
  CAPTURE(name);
  CHECK(ag::gradcheck(fn, inputs));
  CHECK(ag::gradgradcheck(fn, inputs));
}

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

TEST_SUITE("training ops") {
  TEST_CASE("values and gradients match PyTorch") {
    auto cases = load_fixture("autograd/training_ops.txt");
    REQUIRE(cases.size() == 28);
    for (const FixtureCase& c : cases) {
      CAPTURE(c.name);
      std::map<std::string, Tensor> leaves;
      for (const char* key : {"x", "w", "b"})
        if (c.has(key)) leaves[key] = c.tensor(key).clone().requires_grad_();
      Tensor out = run_case(c, leaves);
      check_close(out, c.tensor("out"), "out");
      mul(out, c.tensor("weight_out")).sum().backward();
      for (const auto& [key, leaf] : leaves) check_close(leaf.grad(), c.tensor("grad." + key), "grad." + key);
    }
  }

  TEST_CASE("gradcheck and gradgradcheck") {
    Tensor x = rnd({3, 4}, 1), w = rnd({4}, 2), b = rnd({4}, 3), x3 = rnd({2, 3, 4}, 4);
    check_op("sin", [](const In& i) { return sin(i[0]); }, {x});
    check_op("cos", [](const In& i) { return cos(i[0]); }, {x});
    check_op("erf", [](const In& i) { return erf(i[0]); }, {x});
    Tensor rows = tensor<int64_t>({2, 0, 2});
    check_op("index_select dim 0", [&](const In& i) { return index_select(i[0], 0, rows); }, {x});
    check_op("index_select dim 1", [&](const In& i) { return index_select(i[0], 1, rows); }, {x3});
    Tensor idx = tensor<int64_t>({0, 3, 3, 1, 2, 2}, {2, 3});
    check_op("gather dim 1", [&](const In& i) { return gather(i[0], 1, idx); }, {x});
    Tensor idx0 = tensor<int64_t>({2, 0, 1, 1, 1, 2, 0, 0}, {2, 4});
    check_op("gather dim 0", [&](const In& i) { return gather(i[0], 0, idx0); }, {x});
    check_op("gelu none", [](const In& i) { return F::gelu(i[0]); }, {x});
    check_op("gelu tanh", [](const In& i) { return F::gelu(i[0], "tanh"); }, {x});
    check_op("layer_norm", [](const In& i) { return F::layer_norm(i[0], {4}, i[1], i[2]); }, {x, w, b});
    check_op("layer_norm 2 dims", [](const In& i) { return F::layer_norm(i[0], {3, 4}, Tensor(), Tensor(), 1e-3); },
             {x3});
    check_op("dropout (fixed mask)", [](const In& i) {
      Generator g(7);
      return F::dropout(i[0], 0.4, true, &g);
    }, {x});
  }

  TEST_CASE("index_select and gather: shapes and errors") {
    Tensor x = arange(12).reshape({3, 4});
    CHECK(index_select(x, 0, tensor<int64_t>({2})).to_vector<int64_t>() == std::vector<int64_t>{8, 9, 10, 11});
    CHECK(index_select(x, -1, tensor<int64_t>({3, 0})).sizes() == Shape{3, 2});
    CHECK(index_select(x, 0, zeros({0}, {.dtype = kInt64})).sizes() == Shape{0, 4});
    CHECK(gather(x, 1, tensor<int64_t>({3, 0}, {1, 2})).to_vector<int64_t>() == std::vector<int64_t>{3, 0});
    CHECK_THROWS_WITH_AS(index_select(x, 0, tensor<int64_t>({3})),
                         "index_select: index 3 is out of bounds for dimension 0 with size 3", IndexError);
    CHECK_THROWS_WITH_AS(index_select(x, 1, tensor<int64_t>({-1})),
                         "index_select: index -1 is out of bounds for dimension 1 with size 4", IndexError);
    CHECK_THROWS_WITH_AS(index_select(x, 2, tensor<int64_t>({0})), doctest::Contains("index_select"),
                         IndexError);
    CHECK_THROWS_WITH_AS(index_select(x, 0, tensor<double>({0.0})),
                         "index_select: expected a dense int64 tensor for 'index', but got a torch.float64 tensor",
                         TypeError);
    CHECK_THROWS_WITH_AS(index_select(x, 0, zeros({1, 1}, {.dtype = kInt64})),
                         "index_select: 'index' must be a vector (0-D or 1-D), but got a 2-D tensor", ShapeError);
    CHECK_THROWS_WITH_AS(gather(x, 1, tensor<int64_t>({0})),
                         "gather: 'index' must have as many dimensions as 'input' (2), but has 1", ShapeError);
    CHECK_THROWS_WITH_AS(gather(x, 1, zeros({4, 1}, {.dtype = kInt64})),
                         "gather: 'index' [4, 1] must be no larger than 'input' [3, 4] in every dimension but "
                         "dimension 1 (dimension 0 is larger)",
                         ShapeError);
    CHECK_THROWS_WITH_AS(gather(x, 0, tensor<int64_t>({5}, {1, 1})),
                         "gather: index 5 is out of bounds for dimension 0 with size 3", IndexError);
  }

  TEST_CASE("randperm is a permutation, reproducible from its generator") {
    Generator g(3), h(3);
    Tensor p = randperm(100, {}, &g);
    CHECK(p.dtype() == kInt64);
    std::vector<int64_t> identity(100);
    std::iota(identity.begin(), identity.end(), 0);
    CHECK(sorted(p.to_vector<int64_t>()) == identity);
    CHECK(p.to_vector<int64_t>() != identity);
    CHECK(equal(randperm(100, {}, &h), p));
    CHECK(randperm(0).numel() == 0);
  }

  TEST_CASE("Generator state: a shuffling loop resumes exactly") {
    Generator g(11);
    Tensor x = arange(20, {.dtype = kFloat64});
    auto epoch = [&](Generator& gen) { return index_select(x, 0, randperm(20, {}, &gen)); };
    epoch(g);
    (void)g.next_normal();  // leaves a cached normal: part of the state
    Tensor state = g.get_state();
    CHECK(state.dtype() == kInt64);
    CHECK(state.dim() == 1);
    Tensor a1 = epoch(g), a2 = randn({5}, {.dtype = kFloat64}, &g);
    double a3 = g.next_normal();
    Generator other(99);
    other.set_state(state);
    CHECK(other.initial_seed() == 11);
    CHECK(equal(epoch(other), a1));
    CHECK(equal(randn({5}, {.dtype = kFloat64}, &other), a2));
    CHECK(other.next_normal() == a3);
    // The state tensor is a copy: drawing more does not change it.
    g.set_state(state);
    CHECK(equal(epoch(g), a1));
  }

  TEST_CASE("Generator::set_state rejects what get_state did not write") {
    Generator g;
    Tensor good = g.get_state();
    const int64_t n = good.numel();
    auto corrupt = [&](int64_t i, int64_t value) {
      Tensor t = good.clone();
      t.data_ptr<int64_t>()[i] = value;
      return t;
    };
    CHECK_THROWS_WITH_AS(g.set_state(good.to(kFloat64)),
                         "Generator.set_state: 'new_state' must be a dense int64 tensor from get_state(), but got "
                         "a torch.float64 tensor",
                         TypeError);
    CHECK_THROWS_WITH_AS(g.set_state(good.narrow(0, 0, n - 1)),
                         doctest::Contains(("must be a 1-D tensor of " + std::to_string(n) + " elements").c_str()),
                         ValueError);
    CHECK_THROWS_WITH_AS(g.set_state(good.reshape({1, n})), doctest::Contains("but got shape [1, "), ValueError);
    CHECK_THROWS_WITH_AS(g.set_state(Tensor()), "Generator.set_state: 'new_state' is an undefined tensor",
                         ValueError);
    CHECK_THROWS_WITH_AS(g.set_state(corrupt(0, 12345)), doctest::Contains("is not a generator state (header 12345"),
                         ValueError);
    CHECK_THROWS_WITH_AS(g.set_state(corrupt(1, 7)), doctest::Contains("is not a generator state"), ValueError);
    CHECK_THROWS_WITH_AS(g.set_state(corrupt(3, 2)),
                         "Generator.set_state: 'new_state' has a cached-normal flag of 2 (must be 0 or 1)",
                         ValueError);
    Tensor nan_cache = corrupt(3, 1);
    nan_cache.data_ptr<int64_t>()[4] = 0x7ff8000000000000;
    CHECK_THROWS_WITH_AS(g.set_state(nan_cache), doctest::Contains("caches a non-finite normal value"), ValueError);
    CHECK_THROWS_WITH_AS(g.set_state(corrupt(5, 3)), doctest::Contains("holds 3 engine words"), ValueError);
    Generator garbage_source(5);
    Tensor garbage = randint(-1000000, 1000000, {n}, {}, &garbage_source);
    CHECK_THROWS_AS(g.set_state(garbage), ValueError);
    // A failed set_state leaves the generator as it was.
    Generator fresh;
    CHECK(g.next_u64() == fresh.next_u64());
  }

  TEST_CASE("Dropout: mask scaling, eval identity, p validation") {
    Tensor x = ones({1000}, {.dtype = kFloat64});
    Generator g(1);
    nn::Dropout drop(0.25, &g);
    CHECK(drop.repr() == "Dropout(p=0.25, inplace=False)");
    Tensor y = drop(x);
    std::vector<double> v = y.to_vector<double>();
    int64_t kept = 0;
    for (double e : v) {
      CHECK((e == 0.0 || e == 1.0 / 0.75));
      kept += e != 0.0;
    }
    CHECK(kept > 700);
    CHECK(kept < 800);
    // The gradient goes through the same mask.
    Tensor leaf = x.clone().requires_grad_();
    Generator g2(1);
    nn::Dropout again(0.25, &g2);
    again(leaf).sum().backward();
    CHECK(equal(leaf.grad(), y));
    drop.eval();
    CHECK(drop(x).is_same(x));
    CHECK(F::dropout(x, 0.0).is_same(x));
    CHECK(equal(F::dropout(x, 1.0), zeros_like(x)));
    CHECK_THROWS_WITH_AS(nn::Dropout(1.5), "dropout probability has to be between 0 and 1, but got 1.5", ValueError);
    CHECK_THROWS_WITH_AS(F::dropout(x, -0.1), "dropout probability has to be between 0 and 1, but got -0.1",
                         ValueError);
    CHECK_THROWS_WITH_AS(F::dropout(arange(3), 0.5), "dropout: expected a floating point or complex input, but got torch.int64",
                         TypeError);
  }

  TEST_CASE("LayerNorm and GELU modules") {
    nn::LayerNorm ln(4);
    CHECK(ln.repr() == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)");
    CHECK(ln.parameters().size() == 2);
    CHECK(equal(ln.weight, ones({4})));
    CHECK(equal(ln.bias, zeros({4})));
    Tensor x = rnd({3, 4}, 9).detach();
    CHECK(allclose(ln(x), F::layer_norm(x, {4})));
    nn::LayerNorm plain({2, 3}, {.eps = 1e-3, .elementwise_affine = false});
    CHECK(plain.parameters().empty());
    CHECK(plain.repr() == "LayerNorm((2, 3), eps=0.001, elementwise_affine=False)");
    CHECK(nn::LayerNorm(4, {.bias = false}).parameters().size() == 1);
    CHECK_THROWS_WITH_AS(ln(zeros({3, 5})),
                         "layer_norm: given normalized_shape=[4], expected an input of shape [*, 4] but got an input "
                         "of shape [3, 5]",
                         ShapeError);
    CHECK_THROWS_WITH_AS(F::layer_norm(x, {4}, ones({3})),
                         "layer_norm: expected weight of the same shape as normalized_shape [4], but got weight of "
                         "shape [3]",
                         ShapeError);
    CHECK_THROWS_WITH_AS(F::layer_norm(x, {}), "layer_norm: normalized_shape must have at least one element, but got []",
                         ShapeError);
    CHECK_THROWS_WITH_AS(nn::LayerNorm(-1), "LayerNorm: normalized_shape must be non-negative, but got [-1]",
                         ValueError);

    nn::GELU gelu, gelu_tanh("tanh");
    CHECK(gelu.repr() == "GELU(approximate='none')");
    CHECK(gelu_tanh.repr() == "GELU(approximate='tanh')");
    CHECK(allclose(gelu_tanh(x), F::gelu(x, "tanh")));
    CHECK_THROWS_WITH_AS(nn::GELU("erf"), "gelu: approximate must be 'none' or 'tanh', but got 'erf'", ValueError);
    CHECK_THROWS_WITH_AS(F::gelu(arange(3)), "gelu: expected a floating point input, but got torch.int64", TypeError);
    // Modules compose and clone as the others do.
    nn::Sequential model(nn::Linear(4, 4), nn::LayerNorm(4), nn::GELU(), nn::Dropout(0.1));
    CHECK(model(x.to(kFloat32)).sizes() == Shape{3, 4});
    CHECK(model.clone()->parameters().size() == 4);
  }

  TEST_CASE("sin, cos and erf: dtypes and errors") {
    CHECK(sin(arange(3)).dtype() == get_default_dtype());
    CHECK(cos(zeros({2}, {.dtype = kFloat32})).to_vector<float>() == std::vector<float>{1.0f, 1.0f});
    CHECK(erf(zeros({2}, {.dtype = kFloat16})).dtype() == kFloat16);
    CHECK_THROWS_WITH_AS(erf(zeros({1}, {.dtype = kComplex64})), "erf: not implemented for torch.complex64",
                         NotImplementedError);
  }
}
