// The fused path of sparse-gradient updates: SparseAdam and Adagrad run one
// pass of a rows kernel (Backend::fused_pointwise_rows) over the rows a
// sparse gradient touches. Its result must be the sparse op chain's bit for
// bit — Adagrad's foreach=False forloop, and for SparseAdam (which has no
// implementation flags) PyTorch's _functional.sparse_adam op chain written
// out below with descent's public sparse ops.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "descent/tensor/memory_stats.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.detach().cpu(), y = b.detach().cpu();
  return std::memcmp(x.data_ptr(), y.data_ptr(), static_cast<std::size_t>(x.nbytes())) == 0;
}

// A param shape, and how many of its leading dims the grads index.
struct TableLayout {
  Shape shape;
  int64_t sparse_dim;
};
const std::vector<TableLayout> kLayouts = {{{40, 8}, 1}, {{6, 5, 4}, 2}, {{30}, 1}, {{7, 3, 2}, 1}};

// An uncoalesced sparse grad: `nnz` entries over random rows, some repeated,
// with a signed zero among the values.
Tensor random_sparse_grad(const TableLayout& l, Dtype dtype, Generator& gen, int64_t nnz = 9) {
  std::vector<int64_t> idx(static_cast<std::size_t>(l.sparse_dim * nnz));
  for (int64_t d = 0; d < l.sparse_dim; ++d) {
    const int64_t size = l.shape[static_cast<std::size_t>(d)];
    for (int64_t j = 2; j < nnz; ++j)
      idx[static_cast<std::size_t>(d * nnz + j)] = static_cast<int64_t>(rand({}, {}, &gen).item<double>() * size) % size;
    // Entries 0 and 1 repeat entry 2's index, so coalescing sums them.
    for (int64_t j = 0; j < 2; ++j) idx[static_cast<std::size_t>(d * nnz + j)] = idx[static_cast<std::size_t>(d * nnz + 2)];
  }
  Shape vshape{nnz};
  vshape.insert(vshape.end(), l.shape.begin() + l.sparse_dim, l.shape.end());
  Tensor values = randn(vshape, {.dtype = kFloat64}, &gen).to(dtype);
  values.select(0, 3).fill_(-0.0);
  return sparse_coo_tensor(tensor(idx, {l.sparse_dim, nnz}), values, l.shape);
}

// PyTorch's _functional.sparse_adam for one param, with public ops.
void reference_sparse_adam(Tensor& param, const Tensor& raw_grad, Tensor& m, Tensor& v, int64_t step, double lr,
                           double beta1, double beta2, double eps, bool maximize) {
  const Tensor grad = (maximize ? neg(raw_grad) : raw_grad).coalesce();
  const Tensor values = grad._values();
  auto sparse = [&](Tensor x) { return sparse_coo_tensor(grad._indices(), std::move(x), grad.sizes(), true); };
  const Tensor old_m = m.sparse_mask(grad)._values();
  Tensor dm = values.sub(old_m).mul_(1 - beta1);
  m.add_(sparse(dm));
  const Tensor old_v = v.sparse_mask(grad)._values();
  Tensor dv = values.square().sub_(old_v).mul_(1 - beta2);
  v.add_(sparse(dv));
  Tensor numer = dm.add_(old_m);
  Tensor denom = dv.add_(old_v).sqrt_().add_(eps);
  const double step_size =
      lr * std::sqrt(1 - std::pow(beta2, static_cast<double>(step))) / (1 - std::pow(beta1, static_cast<double>(step)));
  param.add_(sparse(numer.div_(denom).mul(-step_size)));
}

}  // namespace

TEST_CASE("Adagrad: the rows kernel (default) equals the sparse forloop bit for bit") {
  const std::vector<Dict> configs = {
      {{"lr", 0.1}},
      {{"lr", 0.05}, {"lr_decay", 0.01}, {"maximize", true}},
      {{"lr", 0.1}, {"initial_accumulator_value", 0.1}, {"eps", 1e-6}},
      {{"lr", scalar_tensor(0.1, {.dtype = kFloat32})}},
  };
  for (Dtype dtype : {kFloat32, kFloat64})
    for (const TableLayout& l : kLayouts)
      for (const Dict& config : configs) {
        INFO(to_string(dtype), " ", shape_to_string(l.shape), " sparse_dim ", l.sparse_dim, " ", describe(config));
        Generator init(1);
        Tensor fused = randn(l.shape, {.dtype = kFloat64}, &init).to(dtype).requires_grad_();
        Tensor forloop = fused.detach().clone().requires_grad_();
        const Tensor initial = fused.detach().clone();
        auto by_default = optim::make_optimizer("Adagrad", Params{fused}, config);
        Dict forloop_config = config;
        forloop_config.set("foreach", false);
        auto reference = optim::make_optimizer("Adagrad", Params{forloop}, forloop_config);
        Generator grads(2);
        for (int step = 0; step < 5; ++step) {
          const Tensor g = random_sparse_grad(l, dtype, grads);
          fused.set_grad(g);
          forloop.set_grad(g.clone());
          by_default->step();
          reference->step();
          CHECK(bitwise_equal(fused, forloop));
          CHECK(bitwise_equal(by_default->state()[fused].at("sum").to_tensor(),
                              reference->state()[forloop].at("sum").to_tensor()));
        }
        CHECK_FALSE(equal(fused.detach(), initial));
      }
}

TEST_CASE("SparseAdam: the rows kernel equals PyTorch's sparse op chain bit for bit") {
  struct Config {
    double lr, beta1, beta2, eps;
    bool maximize;
  };
  for (Dtype dtype : {kFloat32, kFloat64})
    for (const TableLayout& l : kLayouts)
      for (const Config& c : {Config{1e-3, 0.9, 0.999, 1e-8, false}, Config{0.05, 0.8, 0.9, 1e-6, true}}) {
        INFO(to_string(dtype), " ", shape_to_string(l.shape), " sparse_dim ", l.sparse_dim, " lr ", c.lr);
        Generator init(3);
        Tensor param = randn(l.shape, {.dtype = kFloat64}, &init).to(dtype).requires_grad_();
        Tensor expected = param.detach().clone();
        Tensor m = zeros(l.shape, {.dtype = dtype}), v = zeros(l.shape, {.dtype = dtype});
        optim::SparseAdam opt({param}, {.lr = c.lr, .betas = {c.beta1, c.beta2}, .eps = c.eps, .maximize = c.maximize});
        Generator grads(4);
        for (int64_t step = 1; step <= 5; ++step) {
          const Tensor g = random_sparse_grad(l, dtype, grads);
          param.set_grad(g);
          opt.step();
          reference_sparse_adam(expected, g, m, v, step, c.lr, c.beta1, c.beta2, c.eps, c.maximize);
          CHECK(bitwise_equal(param, expected));
          CHECK(bitwise_equal(opt.state()[param].at("exp_avg").to_tensor(), m));
          CHECK(bitwise_equal(opt.state()[param].at("exp_avg_sq").to_tensor(), v));
        }
      }
}

// The rows pass allocates per touched row, never per param element: the
// step's peak is far below one more table.
TEST_CASE("SparseAdam and Adagrad: a step over 1% of the rows allocates nothing of the table's size") {
  const int64_t rows = 20000, width = 16;
  for (const char* name : {"SparseAdam", "Adagrad"}) {
    INFO(name);
    Generator gen(5);
    Tensor table = randn({rows, width}, {}, &gen).requires_grad_();
    auto opt = optim::make_optimizer(name, Params{table}, Dict{{"lr", 0.01}});
    std::vector<int64_t> idx;
    for (int64_t j = 0; j < rows / 100; ++j) idx.push_back(j * 97 % rows);
    const auto nnz = static_cast<int64_t>(idx.size());
    auto step = [&] {
      table.set_grad(sparse_coo_tensor(tensor(idx, {1, nnz}), randn({nnz, width}, {}, &gen), {rows, width}));
      opt->step();
    };
    step();  // SparseAdam creates its moments here
    const int64_t before = memory_stats(kCPU).allocated;
    reset_peak_memory_stats(kCPU);
    step();
    CHECK(memory_stats(kCPU).peak_allocated - before < table.nbytes() / 10);
  }
}

TEST_CASE("a sparse grad whose indices were changed in place to leave the param raises IndexError") {
  Tensor p = zeros({4, 2}).requires_grad_();
  const Tensor before = p.detach().clone();
  optim::SparseAdam opt({p});
  Tensor g = sparse_coo_tensor(tensor<int64_t>({1, 2}, {1, 2}), ones({2, 2}), {4, 2}).coalesce();
  g._indices().fill_(9);
  p.set_grad(g);
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("index 9 of entry 0 is out of bounds for dimension 0 with size 4"),
                       IndexError);
  CHECK(equal(p.detach(), before));
}

TEST_CASE("fused_pointwise_rows rejects AMP inputs") {
  const float scale = 2.0f;
  FusedPointwiseArgs args;
  args.amp.grad_scale = &scale;
  CHECK_THROWS_WITH_AS(backend_for(kCPU).fused_pointwise_rows(kFloat32, {}, args),
                       doctest::Contains("AMP inputs (grad_scale, found_inf) are not supported over rows"), ValueError);
}
