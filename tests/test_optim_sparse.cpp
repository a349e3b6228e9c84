// Sparse gradients through the optimizers that take them (SGD, Adagrad,
// SparseAdam) against PyTorch: Rosenbrock over the rows of two
// nn::Embedding(sparse=true) tables (tests/fixtures/optim/sparse_embedding.txt,
// from scripts/fixtures/optim_sparse_trajectories.py). Each step's grads
// come from descent's autograd and are checked against PyTorch's (same
// uncoalesced indices, values within rounding); PyTorch's exact grads then
// drive the step, so the tables and the final state are compared with the
// golden tolerance.
#include <doctest/doctest.h>

#include "fixtures.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

Tolerance golden_tolerance(Dtype dtype) { return dtype == kFloat64 ? Tolerance{1e-12, 1e-15} : Tolerance{1e-6, 1e-8}; }

Tensor rosenbrock_rows(const Tensor& rows) {
  Tensor x = rows.select(1, 0), y = rows.select(1, 1);
  return ((1.0 - x).square() + 100.0 * (y - x.square()).square()).sum();
}

const OptimizerInfo& info_of(const std::string& name) {
  for (const OptimizerInfo& info : optim_db())
    if (info.name == name) return info;
  raise<KeyError>("no registry row ", name);
}

void replay(const FixtureCase& c) {
  const std::string name = c.name.substr(0, c.name.find('/'));
  INFO(c.name);
  Dict kwargs;
  for (const auto& [key, literal] : c.config) kwargs.set(key, parse_python_literal(literal));
  const Dtype dtype = c.tensor("init0").dtype();
  const Tolerance tol = golden_tolerance(dtype);
  std::vector<std::shared_ptr<nn::Embedding>> tables;
  std::vector<Tensor> params;
  for (int i = 0; i < 2; ++i) {
    const Tensor& init = c.tensor("init" + std::to_string(i));
    auto emb = std::make_shared<nn::Embedding>(init.size(0), init.size(1), nn::EmbeddingOptions{.sparse = true, .dtype = dtype});
    {
      autograd::NoGradGuard no_grad;
      emb->weight.copy_(init);
    }
    tables.push_back(emb);
    params.push_back(emb->weight);
  }
  auto opt = make(info_of(name), Params(params), kwargs);
  int step = 1;
  for (; c.has("param" + std::to_string(step) + "_0"); ++step) {
    INFO("step ", step);
    opt->zero_grad();
    Tensor loss = zeros({}, {.dtype = dtype});
    for (int i = 0; i < 2; ++i) {
      const std::string key = "lookup" + std::to_string(step) + "_" + std::to_string(i);
      if (c.has(key)) loss = loss + rosenbrock_rows(tables[i]->forward(c.tensor(key)));
    }
    loss.backward();
    for (int i = 0; i < 2; ++i) {
      const std::string key = "grad" + std::to_string(step) + "_" + std::to_string(i);
      if (!c.has(key + "_indices")) {
        CHECK_FALSE(params[i].grad().defined());
        continue;
      }
      const Tensor& grad = params[i].grad();
      REQUIRE(grad.is_sparse());
      CHECK_FALSE(grad.is_coalesced());
      CHECK(mismatch(grad._indices(), c.tensor(key + "_indices"), {0, 0}).empty());
      CHECK(mismatch(grad._values(), c.tensor(key + "_values"), {1e-5, 1e-5}).empty());
      params[i].set_grad(sparse_coo_tensor(c.tensor(key + "_indices"), c.tensor(key + "_values"), grad.sizes()));
    }
    opt->step();
    for (int i = 0; i < 2; ++i) {
      INFO("param ", i);
      const std::string diff = mismatch(params[i].detach(), c.tensor("param" + std::to_string(step) + "_" + std::to_string(i)), tol);
      CHECK_MESSAGE(diff.empty(), diff);
    }
  }
  CHECK(step == 7);
  for (int i = 0; i < 2; ++i) {
    const Dict* found = opt->state().find(params[i]);
    const Dict state = found ? *found : Dict();
    const std::string prefix = "state" + std::to_string(i) + "_";
    std::size_t entries = 0;
    for (const auto& [key, value] : state) {
      const std::string k = std::get<std::string>(key);
      INFO("state of param ", i, ": ", k);
      ++entries;
      if (value.is_number()) {
        CHECK(value.to_double() == c.scalar(prefix + k));
        continue;
      }
      const Tensor& t = value.to_tensor();
      if (t.is_sparse()) {
        CHECK(mismatch(t._indices(), c.tensor(prefix + k + "_indices"), {0, 0}).empty());
        const std::string diff = mismatch(t._values(), c.tensor(prefix + k + "_values"), tol);
        CHECK_MESSAGE(diff.empty(), diff);
      } else {
        const std::string diff = mismatch(t, c.tensor(prefix + k), tol);
        CHECK_MESSAGE(diff.empty(), diff);
      }
    }
    std::size_t expected = 0;
    for (const auto& [key, t] : c.tensors)
      if (key.rfind(prefix, 0) == 0 && key.find("_indices") == std::string::npos) ++expected;
    for (const auto& [key, s] : c.scalars)
      if (key.rfind(prefix, 0) == 0) ++expected;
    CHECK(entries == expected);
  }
}

}  // namespace

TEST_CASE("sparse-gradient trajectories through nn::Embedding(sparse=true) match PyTorch") {
  std::map<std::string, int> cases;
  for (const FixtureCase& c : load_fixture("optim/sparse_embedding.txt")) {
    replay(c);
    ++cases[c.name.substr(0, c.name.find('/'))];
  }
  CHECK(cases["SGD"] == 16);
  CHECK(cases["Adagrad"] == 14);
  CHECK(cases["SparseAdam"] == 10);
}

// The bug this suite was written against: the momentum buffer is a sparse
// clone of the first grad, and the second step scaled it in place
// (`mul_: not supported for sparse tensors`). Hand-checkable values, as
// PyTorch gives them (buf = μ·buf + (1 − τ)·g, merged in index order).
TEST_CASE("SGD with momentum steps twice on sparse grads, as PyTorch") {
  Tensor p = tensor<double>({1, 2, 3, 4}, {.dtype = kFloat64}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.5, .momentum = 0.5, .dampening = 0.5});
  auto grad = [](std::vector<int64_t> idx, std::vector<double> v) {
    const auto n = static_cast<int64_t>(idx.size());
    return sparse_coo_tensor(tensor(idx, {1, n}), tensor(v, {n}, {.dtype = kFloat64}), {4});
  };
  p.set_grad(grad({2, 0}, {1, 2}));
  opt.step();  // buf = g (no dampening on the first step); p -= 0.5·buf
  CHECK(p.detach().to_vector<double>() == std::vector<double>{0, 2, 2.5, 4});
  p.set_grad(grad({0, 3}, {4, 8}));
  // buf = 0.5·buf + 0.5·g. The walk over [2, 0] and [0, 3] pairs no entries
  // (0 < 2 is taken first, then 2 < 3, 0 < 3, 3): [0, 2, 0, 3], uncoalesced.
  opt.step();
  const Tensor& buf = opt.state()[p].at("momentum_buffer").to_tensor();
  CHECK(buf.is_sparse());
  CHECK_FALSE(buf.is_coalesced());
  CHECK(buf._indices().to_vector<int64_t>() == std::vector<int64_t>{0, 2, 0, 3});
  CHECK(buf._values().to_vector<double>() == std::vector<double>{2, 0.5, 1, 4});
  CHECK(p.detach().to_vector<double>() == std::vector<double>{-1.5, 2, 2.25, 2});
}

// state_dict / load_state_dict round trip: `step` stays a number, the
// moments are copied, and a loaded optimizer continues as the original.
TEST_CASE("SparseAdam state_dict round trip") {
  Generator gen(5);
  Tensor a = randn({8, 3}, {.dtype = kFloat64}, &gen).requires_grad_();
  Tensor b = a.detach().clone().requires_grad_();
  const Tensor initial = a.detach().clone();
  optim::SparseAdam first({a}, {.lr = 0.01, .betas = {0.8, 0.9}});
  auto grad = [&](int step) {
    Tensor idx = tensor<int64_t>({step % 6, (step + 3) % 6, step % 6}, {1, 3});
    return sparse_coo_tensor(idx, randn({3, 3}, {.dtype = kFloat64}, &gen), {8, 3});
  };
  for (int step = 0; step < 3; ++step) {
    a.set_grad(grad(step));
    first.step();
  }
  Dict saved = first.state_dict();
  const Value& step = saved.at("state").to_dict().at(int64_t{0}).to_dict().at("step");
  CHECK(step.is_int());
  CHECK(step.to_int() == 3);
  optim::SparseAdam second({b}, {.lr = 0.5});
  {
    autograd::NoGradGuard no_grad;
    b.copy_(a);
  }
  second.load_state_dict(saved);
  CHECK(second.param_groups()[0].lr() == 0.01);
  for (int step = 3; step < 6; ++step) {
    Tensor g = grad(step);
    a.set_grad(g);
    b.set_grad(g.clone());
    first.step();
    second.step();
  }
  CHECK(equal(a.detach(), b.detach()));
  CHECK(second.state()[b].at("step").to_int() == 6);
  CHECK(equal(second.state()[b].at("exp_avg_sq").to_tensor(), first.state()[a].at("exp_avg_sq").to_tensor()));
  // Rows 6 and 7 never had a grad: their moments stay zero, their values as they were.
  for (int64_t row : {6, 7}) {
    CHECK(equal(second.state()[b].at("exp_avg").to_tensor().select(0, row), zeros({3}, {.dtype = kFloat64})));
    CHECK(equal(b.detach().select(0, row), initial.select(0, row)));
  }
}
