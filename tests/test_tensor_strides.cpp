// Strided views: t/transpose/permute/expand share storage with strides as
// PyTorch's (the literals come from scripts/fixtures/strides.py, run with
// PyTorch 2.x), ops read strided inputs and write through strided outputs,
// in-place writes through a view reach the base with version checks, and
// gradients through views and of ops on non-contiguous inputs check out.
#include <doctest/doctest.h>

#include "descent/descent.h"

using namespace descent;
namespace ag = descent::autograd;
using doctest::Contains;

namespace {
struct Layout {
  Shape sizes, strides;
  int64_t offset;
  bool contiguous;
};

void check_layout(const Tensor& t, const Layout& want) {
  CHECK(t.sizes() == want.sizes);
  CHECK(t.strides() == want.strides);
  CHECK(t.storage_offset() == want.offset);
  CHECK(t.is_contiguous() == want.contiguous);
}

// The values of t in index order, read element by element through select (no copy of the whole).
std::vector<double> by_index(const Tensor& t) {
  if (t.dim() == 0) return {t.item<double>()};
  std::vector<double> out;
  for (int64_t i = 0; i < t.size(0); ++i)
    for (double v : by_index(t.select(0, i))) out.push_back(v);
  return out;
}

Tensor rnd(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return randn(shape, {.dtype = kFloat64}, &g);
}
}  // namespace

TEST_CASE("views have PyTorch's sizes, strides, offsets and is_contiguous") {
  Tensor x = arange(24, {.dtype = kFloat32}).view({2, 3, 4});
  Tensor y = arange(12, {.dtype = kFloat32}).view({3, 4}).t();
  Tensor z = arange(24, {.dtype = kFloat32}).view({4, 6}).t();
  check_layout(x.transpose(0, 2), {{4, 3, 2}, {1, 4, 12}, 0, false});
  check_layout(x.permute({1, 2, 0}), {{3, 4, 2}, {4, 1, 12}, 0, false});
  check_layout(y, {{4, 3}, {1, 4}, 0, false});
  check_layout(y.contiguous(), {{4, 3}, {3, 1}, 0, true});
  check_layout(y.unsqueeze(0), {{1, 4, 3}, {4, 1, 4}, 0, false});
  check_layout(y.unsqueeze(2), {{4, 3, 1}, {1, 4, 1}, 0, false});
  check_layout(y.select(0, 1), {{3}, {4}, 1, false});
  check_layout(y.narrow(0, 1, 2), {{2, 3}, {1, 4}, 1, false});
  check_layout(y.t(), {{3, 4}, {4, 1}, 0, true});
  check_layout(z.view({2, 3, 4}), {{2, 3, 4}, {3, 1, 6}, 0, false});
  check_layout(arange(4, {.dtype = kFloat32}).view({4, 1}).t(), {{1, 4}, {1, 1}, 0, true});
  check_layout(arange(3, {.dtype = kFloat32}).view({3, 1}).expand({3, 4}), {{3, 4}, {1, 0}, 0, false});
  check_layout(arange(3, {.dtype = kFloat32}).view({3, 1}).expand({2, 3, 4}), {{2, 3, 4}, {0, 1, 0}, 0, false});
  check_layout(arange(3, {.dtype = kFloat32}).expand({1, 3}), {{1, 3}, {3, 1}, 0, true});
  check_layout(x.transpose(1, 2).flatten(0, 1), {{8, 3}, {3, 1}, 0, true});
  check_layout(view_as_real(zeros({3, 2}, {.dtype = kComplex64}).t()), {{2, 3, 2}, {2, 4, 1}, 0, false});
  CHECK(x.stride(-1) == 1);
  CHECK(y.stride(1) == 4);

  // Views share storage; contiguous() and the copying reshape do not.
  CHECK(y.storage() == y.t().storage());
  CHECK(x.permute({1, 2, 0}).storage() == x.storage());
  CHECK(y.contiguous().storage() != y.storage());
  CHECK(x.contiguous().is_same(x));
  CHECK(y.reshape({12}).storage() != y.storage());
  CHECK(x.transpose(1, 2).flatten(0, 1).storage() != x.storage());
  CHECK_THROWS_WITH_AS(y.view({12}), Contains("view size is not compatible with input tensor's size and stride"),
                       RuntimeError);
  CHECK_THROWS_WITH_AS(x.stride(3), Contains("dimension out of range"), IndexError);
}

TEST_CASE("strided views read by index, by every kind of op") {
  Tensor base = arange(12, {.dtype = kFloat64}).view({3, 4});
  Tensor y = base.t();  // y[i][j] = 4 j + i
  CHECK(by_index(y) == std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK(y.to_vector<double>() == by_index(y));
  CHECK(y.clone().is_contiguous());
  CHECK(y.clone().to_vector<double>() == by_index(y));
  // A transposed matrix larger than the copy's 32x32 tiles, in element sizes 1, 2, 8 and 16.
  Tensor big = rnd({70, 45}, 10);
  for (Dtype d : {kBool, kFloat16, kFloat64, kComplex128}) {
    CAPTURE(to_string(d));
    Tensor m = big.gt(0).to(d);
    Tensor copy = m.t().contiguous();
    CHECK(copy.is_contiguous());
    CHECK(equal(copy, m.t()));
    CHECK(copy[3][5].item().to_double() == m[5][3].item().to_double());
  }
  CHECK(y.to(kFloat32).to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK((y + 1).to_vector<double>() == std::vector<double>{1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12});
  CHECK((y * y.contiguous()).sum().item<double>() == doctest::Approx(506));
  CHECK(y.exp().log().to_vector<double>()[1] == doctest::Approx(4));
  CHECK(y.sum(Shape{1}).to_vector<double>() == std::vector<double>{12, 15, 18, 21});
  CHECK(std::get<1>(y.max(1)).to_vector<int64_t>() == std::vector<int64_t>{2, 2, 2, 2});
  CHECK(cat({y, y}, 0).to_vector<double>()[3] == 1);
  CHECK(y.repr() == y.contiguous().repr());
  Tensor e = tensor<double>({1, 2, 3}).view({3, 1}).expand({3, 2});
  CHECK(e.to_vector<double>() == std::vector<double>{1, 1, 2, 2, 3, 3});
  CHECK((e * 2).to_vector<double>() == std::vector<double>{2, 2, 4, 4, 6, 6});
  CHECK(e.sum().item<double>() == 12);
  // matmul reads transposed operands in place, batched ones through their batch stride.
  Tensor a = rnd({5, 7}, 1), b = rnd({4, 7}, 2);
  Tensor want = a.matmul(b.t().contiguous());
  CHECK(allclose(a.matmul(b.t()), want, 1e-12, 1e-12));
  CHECK(allclose(a.t().contiguous().t().matmul(b.t()), want, 1e-12, 1e-12));
  Tensor batch = rnd({3, 7, 5}, 3);
  CHECK(allclose(batch.transpose(1, 2).matmul(b.t()), batch.transpose(1, 2).contiguous().matmul(b.t().contiguous()),
                 1e-12, 1e-12));
  // A matrix with row stride 35 (a row of a permuted batch): read in place with its leading dimension.
  Tensor rows = batch.permute({1, 0, 2}).select(0, 2);
  CHECK(rows.strides() == Shape{35, 1});
  Tensor left = rnd({4, 3}, 4);
  CHECK(allclose(left.matmul(rows), left.matmul(rows.contiguous()), 1e-12, 1e-12));
  CHECK(allclose(rows.t().matmul(left.t()), rows.t().contiguous().matmul(left.t().contiguous()), 1e-12, 1e-12));
  CHECK(allclose(tensor<int64_t>({1, 2, 3, 4}).view({2, 2}).t().matmul(tensor<int64_t>({1, 1}).view({2, 1})),
                 tensor<int64_t>({4, 6}).view({2, 1})));
}

TEST_CASE("in-place ops write through strided views and bump the shared version") {
  Tensor base = zeros({3, 4}, {.dtype = kFloat64});
  Tensor y = base.t();
  int64_t v0 = base._version();
  y.add_(arange(12, {.dtype = kFloat64}).view({4, 3}));
  CHECK(base._version() == v0 + 1);
  CHECK(y._version() == base._version());
  CHECK(base.to_vector<double>() == std::vector<double>{0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11});
  y.select(0, 1).fill_(-1);  // a column of base
  CHECK(base.to_vector<double>() == std::vector<double>{0, -1, 6, 9, 1, -1, 7, 10, 2, -1, 8, 11});
  y.mul_(2).clamp_min_(0);
  CHECK(base.to_vector<double>() == std::vector<double>{0, 0, 12, 18, 2, 0, 14, 20, 4, 0, 16, 22});
  y.copy_(ones({4, 3}, {.dtype = kFloat32}));
  CHECK(base.sum().item<double>() == 12);
  CHECK(base._version() == v0 + 5);
  // Writing to an expanded view would store one location twice, as PyTorch refuses.
  Tensor e = zeros({3, 1}).expand({3, 2});
  CHECK_THROWS_WITH_AS(e.add_(1), Contains("more than one element of the written-to tensor refers to a single memory location"),
                       RuntimeError);
  CHECK_THROWS_WITH_AS(e.fill_(1), Contains("more than one element of the written-to tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(e.copy_(ones({3, 2})), Contains("more than one element of the written-to tensor"), RuntimeError);
  // copy_ between overlapping strided views of one storage is refused, as PyTorch.
  Tensor sq = zeros({3, 3});
  CHECK_THROWS_WITH_AS(sq.copy_(sq.t()), Contains("refer to a single memory location"), RuntimeError);
}

TEST_CASE("autograd: in-place through a transposed view, and saved tensors' versions") {
  Tensor w = rnd({3, 4}, 4).requires_grad_();
  Tensor base = w * 1.0;
  Tensor v = base.t();
  v.mul_(tensor<double>({1, 2, 3}));  // scales base's columns... of v, i.e. base's rows
  base.sum().backward();
  std::vector<double> want;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) want.push_back(static_cast<double>(i + 1));
  CHECK(w.grad().to_vector<double>() == want);
  CHECK(w.grad().is_contiguous());

  // A tensor saved for backward and then modified through a transposed view is detected.
  Tensor a = rnd({2, 3}, 5).requires_grad_();
  Tensor s = a * 1.0;
  Tensor out = s.sigmoid();
  out.t().add_(1);
  CHECK_THROWS_WITH_AS(out.sum().backward(), Contains("modified by an inplace operation"), RuntimeError);

  // A leaf used only through t() gets a contiguous .grad (the fused optimizers read it densely).
  Tensor leaf = rnd({2, 3}, 6).requires_grad_();
  leaf.t().sum(Shape{1}).sum().backward();
  CHECK(leaf.grad().is_contiguous());
  CHECK(leaf.grad().to_vector<double>() == std::vector<double>(6, 1.0));
}

TEST_CASE("gradcheck: every view, and ops on non-contiguous inputs") {
  using In = std::vector<Tensor>;
  auto check = [](const char* name, const std::function<Tensor(const In&)>& fn, const In& in) {
    CAPTURE(name);
    CHECK(ag::gradcheck(fn, in));
    CHECK(ag::gradgradcheck(fn, in));
  };
  Tensor a = rnd({3, 4}, 7).requires_grad_(), b = rnd({4, 5}, 8).requires_grad_(), c = rnd({2, 3, 4}, 9).requires_grad_();
  check("t", [](const In& x) { return x[0].t() * 2.0; }, {a});
  check("transpose", [](const In& x) { return x[0].transpose(0, 2); }, {c});
  check("permute", [](const In& x) { return x[0].permute({1, 2, 0}); }, {c});
  check("expand", [](const In& x) { return x[0].view({3, 1, 4}).expand({3, 2, 4}); }, {a});
  check("view of transposed", [](const In& x) { return x[0].permute({1, 0, 2}).reshape({3, 8}); }, {c});
  check("select/narrow of transposed", [](const In& x) { return x[0].t().select(0, 1) + x[0].t().narrow(0, 1, 2).sum(); }, {a});
  check("mm of transposed operands", [](const In& x) { return x[0].t().t().matmul(x[1].t().t()); }, {a, b});
  check("mm a^T b^T", [](const In& x) { return x[1].t().matmul(x[0].t()); }, {a, b});
  check("bmm of transposed", [](const In& x) { return x[0].transpose(1, 2).matmul(x[0]); }, {c});
  check("elementwise strided", [](const In& x) { return (x[0].t() * x[1].narrow(1, 0, 3)).sigmoid(); }, {a, b});
  check("reduction strided", [](const In& x) { return x[0].permute({2, 0, 1}).sum(Shape{0, 2}); }, {c});
  check("linear", [](const In& x) { return nn::functional::linear(x[0], x[1], Tensor()); }, {b.t().detach().contiguous().requires_grad_(), a});
  check("in-place through t()", [](const In& x) {
    Tensor base = x[0] * 1.0;
    base.t().mul_(x[1].narrow(0, 0, 3).narrow(1, 0, 1).t());
    return base;
  }, {a, b});
}

TEST_CASE("matmul results do not depend on the thread count") {
  const int original = get_num_threads();
  Tensor x = randn({64, 784}), w = randn({512, 784});
  Tensor big_a = randn({300, 600}), big_b = randn({600, 530});
  set_num_threads(1);
  Tensor one = x.matmul(w.t()), one_big = big_a.matmul(big_b), one_t = big_b.t().matmul(big_a.t());
  for (int threads : {2, 3, 4}) {
    set_num_threads(threads);
    CHECK(equal(x.matmul(w.t()), one));
    CHECK(equal(big_a.matmul(big_b), one_big));
    CHECK(equal(big_b.t().matmul(big_a.t()), one_t));
  }
  set_num_threads(original);
}
