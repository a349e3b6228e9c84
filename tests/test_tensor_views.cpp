// Storage, views, factories and conversions: views share storage and the
// version counter with their base; factories follow PyTorch's dtype rules;
// random factories are reproducible from a seed; to/clone/copy_/item and
// data_ptr<T> behave as in PyTorch.
#include <doctest/doctest.h>

#include <limits>

#include "descent/descent.h"
#include "tensor_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

std::vector<float> values_of(const Tensor& t) { return t.to_vector<float>(); }

// Writes through a view must be visible in the base and bump the shared version.
void check_shares(Tensor base, Tensor view) {
  CHECK(view.storage() == base.storage());
  static int marker = 40;
  Tensor before = base.clone();
  int64_t version = base._version();
  view.fill_(++marker);
  CHECK(base._version() == version + 1);
  CHECK(view._version() == base._version());
  CHECK(base.ne(before).any().item<bool>());
}

}  // namespace

TEST_CASE("view, reshape and flatten share storage") {
  Tensor base = arange(12, {.dtype = kFloat32});
  Tensor v = base.view({3, 4});
  CHECK(v.sizes() == Shape{3, 4});
  CHECK(v.strides() == Shape{4, 1});
  CHECK(v.storage_offset() == 0);
  v[1].fill_(-1);  // select of a view: row 1 = elements 4..7
  CHECK(values_of(base) == std::vector<float>{0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11});
  CHECK(base.reshape({2, -1, 2}).sizes() == Shape{2, 3, 2});
  check_shares(base, base.reshape({2, 6}));
  Tensor f = v.view({2, 2, 3}).flatten(1);
  CHECK(f.sizes() == Shape{2, 6});
  check_shares(base, f);
  CHECK(v.flatten().sizes() == Shape{12});
  CHECK(v.flatten(0, 0).sizes() == Shape{3, 4});
  CHECK(scalar_tensor(1.0).flatten().sizes() == Shape{1});
  CHECK(empty({0, 3}).view({-1}).sizes() == Shape{0});
  CHECK(v.view_as(empty({6, 2})).sizes() == Shape{6, 2});
}

TEST_CASE("narrow and select along the first dim are views; elsewhere copies") {
  Tensor base = arange(12, {.dtype = kFloat64}).view({4, 3});
  Tensor rows = base.narrow(0, 1, 2);
  CHECK(rows.sizes() == Shape{2, 3});
  CHECK(rows.storage_offset() == 3);
  CHECK(rows.to_vector<double>() == std::vector<double>{3, 4, 5, 6, 7, 8});
  check_shares(base, rows);
  Tensor last = base.select(0, -1);
  CHECK(last.sizes() == Shape{3});
  CHECK(last.storage_offset() == 9);
  check_shares(base, last);
  CHECK(base[-2].storage_offset() == 6);
  // A leading unit dimension still leaves a contiguous slice: a view.
  Tensor one = arange(6, {.dtype = kFloat32}).view({1, 6});
  check_shares(one, one.narrow(1, 2, 3));
  // Along an inner dimension the elements are not contiguous: values, not a view.
  Tensor base2 = arange(12, {.dtype = kFloat64}).view({4, 3});
  Tensor col = base2.narrow(1, 1, 1);
  CHECK(col.to_vector<double>() == std::vector<double>{1, 4, 7, 10});
  CHECK(base2.select(1, 2).to_vector<double>() == std::vector<double>{2, 5, 8, 11});
  CHECK(base2.narrow(0, -2, 2).storage_offset() == 6);
  CHECK(base2.narrow(0, 4, 0).numel() == 0);
}

TEST_CASE("unsqueeze and squeeze share storage") {
  Tensor base = arange(6, {.dtype = kFloat32}).view({2, 1, 3});
  CHECK(base.squeeze().sizes() == Shape{2, 3});
  CHECK(base.squeeze(1).sizes() == Shape{2, 3});
  CHECK(base.squeeze(0).sizes() == Shape{2, 1, 3});
  CHECK(base.squeeze(-1).sizes() == Shape{2, 1, 3});
  CHECK(base.unsqueeze(0).sizes() == Shape{1, 2, 1, 3});
  CHECK(base.unsqueeze(-1).sizes() == Shape{2, 1, 3, 1});
  CHECK(scalar_tensor(2.0).unsqueeze(0).sizes() == Shape{1});
  CHECK(ones({1}).squeeze().dim() == 0);
  check_shares(base, base.squeeze());
  check_shares(base, base.unsqueeze(2));
}

TEST_CASE("view_as_real and view_as_complex share storage") {
  Tensor z = tensor<std::complex<float>>({{1, 2}, {3, -4}});
  Tensor r = view_as_real(z);
  CHECK(r.dtype() == kFloat32);
  CHECK(r.sizes() == Shape{2, 2});
  CHECK(r.storage() == z.storage());
  r[1].fill_(0.5);
  CHECK(z.to_vector<std::complex<float>>()[1] == std::complex<float>(0.5f, 0.5f));
  Tensor back = view_as_complex(r);
  CHECK(back.dtype() == kComplex64);
  CHECK(back.storage() == z.storage());
  check_shares(z, r);
  // A complex view of rows of a real tensor starts at the right complex element.
  Tensor pairs = arange(8, {.dtype = kFloat64}).view({4, 2});
  Tensor c = view_as_complex(pairs.narrow(0, 1, 2));
  CHECK(c.dtype() == kComplex128);
  CHECK(c.storage_offset() == 1);
  CHECK(c.to_vector<std::complex<double>>() == std::vector<std::complex<double>>{{2, 3}, {4, 5}});
  // A 0-dim complex tensor views as [2].
  CHECK(view_as_real(scalar_tensor(Scalar(std::complex<double>(1, 2)))).sizes() == Shape{2});
}

TEST_CASE("version counters are shared by every view and bumped by in-place ops") {
  Tensor base = zeros({2, 3});
  Tensor v = base.view({6});
  Tensor row = base[0];
  int64_t v0 = base._version();
  base.add_(1);
  CHECK(v._version() == v0 + 1);
  row.mul_(2);
  CHECK(base._version() == v0 + 2);
  v.copy_(ones({6}));
  CHECK(row._version() == v0 + 3);
  v.zero_();
  CHECK(base._version() == v0 + 4);
  // Out-of-place ops and clones do not touch it; clones start fresh storage.
  Tensor s = base + 1;
  CHECK(base._version() == v0 + 4);
  Tensor c = base.clone();
  CHECK(c.storage() != base.storage());
  c.add_(1);
  CHECK(base._version() == v0 + 4);
  // Writing through data_ptr is invisible until bump_version().
  base.data_ptr<float>()[0] = 5.0f;
  base.bump_version();
  CHECK(v._version() == v0 + 5);
  CHECK(v[0].item<float>() == 5.0f);
}

TEST_CASE("transpose, permute, expand and t return strided views") {
  Tensor x = arange(6, {.dtype = kFloat32}).view({2, 3});
  Tensor t = x.t();
  CHECK(t.sizes() == Shape{3, 2});
  CHECK(values_of(t) == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(t.storage() == x.storage());
  CHECK(values_of(x.transpose(0, -1)) == values_of(t));
  Tensor p = arange(24, {.dtype = kFloat32}).view({2, 3, 4}).permute({2, 0, 1});
  CHECK(p.sizes() == Shape{4, 2, 3});
  CHECK(p[1][1][2].item<float>() == 12 + 8 + 1);
  Tensor e = tensor<float>({1, 2}).view({2, 1}).expand({2, 3});
  CHECK(values_of(e) == std::vector<float>{1, 1, 1, 2, 2, 2});
  CHECK(tensor<float>({7}).expand({-1}).sizes() == Shape{1});
  CHECK(ones({3}).expand({2, -1}).sizes() == Shape{2, 3});
}

TEST_CASE("factories: empty, zeros, ones, full, eye, scalar_tensor and *_like") {
  CHECK(empty({2, 3}).dtype() == kFloat32);
  CHECK(empty({2, 3}).device() == Device(kCPU));
  CHECK(zeros({2, 3}).sum().item<double>() == 0.0);
  CHECK(ones({4}, {.dtype = kInt64}).sum().item<int64_t>() == 4);
  CHECK(zeros({}).dim() == 0);
  CHECK(zeros({0, 4}).numel() == 0);
  // full takes its dtype from the value's category, as torch.full.
  CHECK(full({2}, 3).dtype() == kInt64);
  CHECK(full({2}, true).dtype() == kBool);
  CHECK(full({2}, 1.5).dtype() == kFloat32);
  CHECK(full({2}, Scalar(std::complex<double>(1, 1))).dtype() == kComplex64);
  CHECK(full({2}, 1.5, {.dtype = kFloat64}).to_vector<double>() == std::vector<double>{1.5, 1.5});
  CHECK(scalar_tensor(2.5).dim() == 0);
  CHECK(scalar_tensor(7).dtype() == kInt64);
  CHECK(eye(3).sum().item<double>() == 3.0);
  CHECK(eye(3)[1].to_vector<float>() == std::vector<float>{0, 1, 0});
  Tensor src = ones({2, 3}, {.dtype = kFloat64});
  CHECK(zeros_like(src).dtype() == kFloat64);
  CHECK(zeros_like(src).sizes() == Shape{2, 3});
  CHECK(ones_like(src, {.dtype = kInt64}).dtype() == kInt64);
  CHECK(full_like(src, 7).to_vector<double>() == std::vector<double>(6, 7.0));
  CHECK(empty_like(src).sizes() == src.sizes());
  CHECK(zeros({2}, {.requires_grad = true}).requires_grad());
  CHECK_FALSE(zeros_like(zeros({2}, {.requires_grad = true})).requires_grad());
}

TEST_CASE("arange: int64 when every bound is integral, else the default dtype") {
  Tensor a = arange(5);
  CHECK(a.dtype() == kInt64);
  CHECK(a.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(arange(2, 11, 3).to_vector<int64_t>() == std::vector<int64_t>{2, 5, 8});
  CHECK(arange(5, 0, -2).to_vector<int64_t>() == std::vector<int64_t>{5, 3, 1});
  Tensor f = arange(0, 1, 0.25);
  CHECK(f.dtype() == kFloat32);
  CHECK(f.to_vector<float>() == std::vector<float>{0, 0.25f, 0.5f, 0.75f});
  CHECK(arange(1.5).to_vector<float>() == std::vector<float>{0, 1});
  CHECK(arange(0, 3, 1, {.dtype = kFloat64}).dtype() == kFloat64);
  CHECK(arange(3, 3).numel() == 0);
  // torch.arange(0, 1, 0.1) has 10 elements (ceil of (end - start) / step).
  CHECK(arange(0, 1, 0.1).numel() == 10);
  CHECK_THROWS_WITH_AS(arange(0, 3, 0), doctest::Contains("step must be nonzero"), descent::ValueError);
  CHECK_THROWS_WITH_AS(arange(0, -3, 1), doctest::Contains("inconsistent with step sign"), descent::ValueError);
  CHECK_THROWS_WITH_AS(arange(0, std::numeric_limits<double>::infinity()), doctest::Contains("unsupported range"),
                       descent::ValueError);
}

TEST_CASE("linspace matches torch.linspace") {
  // Values from torch.linspace(-1, 2, 7) and torch.linspace(0, 1, 5, dtype=float64).
  CHECK(linspace(-1, 2, 7).to_vector<float>() == std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f});
  CHECK(linspace(0, 1, 5, {.dtype = kFloat64}).to_vector<double>() == std::vector<double>{0, 0.25, 0.5, 0.75, 1});
  // Bit patterns printed by PyTorch: float32 steps in float, float64 in double.
  CHECK(linspace(0.1, 0.7, 4).to_vector<float>() ==
        std::vector<float>{0x1.99999ap-4f, 0x1.333332p-2f, 0x1.000000p-1f, 0x1.666666p-1f});
  CHECK(linspace(-3.3, 10.1, 11).to_vector<float>() ==
        std::vector<float>{-0x1.a66666p+1f, -0x1.f5c28ep+0f, -0x1.3d70ap-1f, 0x1.70a3dcp-1f, 0x1.07ae16p+1f,
                           0x1.b33334p+1f, 0x1.2f5c2ap+2f, 0x1.851ebap+2f, 0x1.dae148p+2f, 0x1.1851ecp+3f,
                           0x1.433334p+3f});
  CHECK(linspace(-3.3, 10.1, 11, {.dtype = kFloat64}).to_vector<double>() ==
        std::vector<double>{-0x1.a666666666666p+1, -0x1.f5c28f5c28f5cp+0, -0x1.3d70a3d70a3d8p-1, 0x1.70a3d70a3d708p-1,
                            0x1.07ae147ae147ap+1, 0x1.b333333333334p+1, 0x1.2f5c28f5c28f6p+2, 0x1.851eb851eb852p+2,
                            0x1.dae147ae147aep+2, 0x1.1851eb851eb85p+3, 0x1.4333333333333p+3});
  CHECK(linspace(3, 5, 1).to_vector<float>() == std::vector<float>{3});
  CHECK(linspace(3, 5, 0).numel() == 0);
  CHECK_THROWS_WITH_AS(linspace(0, 1, -1), doctest::Contains("non-negative"), descent::ValueError);
}

TEST_CASE("rand and randn are reproducible from a seed") {
  Generator g1(123), g2(123), g3(124);
  Tensor a = rand({100}, {}, &g1), b = rand({100}, {}, &g2), c = rand({100}, {}, &g3);
  CHECK(equal(a, b));
  CHECK_FALSE(equal(a, c));
  CHECK(a.min().item<float>() >= 0.0f);
  CHECK(a.max().item<float>() < 1.0f);
  manual_seed(7);
  Tensor n1 = randn({1000}, {.dtype = kFloat64});
  manual_seed(7);
  Tensor n2 = randn({1000}, {.dtype = kFloat64});
  CHECK(equal(n1, n2));
  CHECK(std::abs(n1.mean().item<double>()) < 0.15);
  CHECK(std::abs(n1.norm().item<double>() / std::sqrt(1000.0) - 1.0) < 0.1);
  g1.manual_seed(5);
  Tensor r1 = randn_like(a, {}, &g1);
  g1.manual_seed(5);
  CHECK(equal(r1, randn({100}, {}, &g1)));
  CHECK(g1.initial_seed() == 5);
  CHECK(rand({3}, {.dtype = kFloat16}).dtype() == kFloat16);
  CHECK(rand_like(ones({2}, {.dtype = kBFloat16})).dtype() == kBFloat16);
  Tensor z = randn({500}, {.dtype = kComplex64}, &g3);
  CHECK(z.dtype() == kComplex64);
  // Each part has variance 1/2 so |z|^2 has mean 1.
  CHECK(std::abs((z.abs() * z.abs()).mean().item<double>() - 1.0) < 0.2);
  CHECK_THROWS_WITH_AS(rand({2}, {.dtype = kInt64}), doctest::Contains("floating point dtype"), descent::TypeError);
  CHECK_THROWS_WITH_AS(randn({2}, {.dtype = kBool}), doctest::Contains("floating point or complex"), descent::TypeError);
}

TEST_CASE("tensors from host vectors and from_blob") {
  Tensor a = tensor<float>({1, 2, 3, 4, 5, 6});
  CHECK(a.dtype() == kFloat32);
  Tensor b = tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(b.dtype() == kFloat64);
  CHECK(b.sizes() == Shape{2, 3});
  CHECK(tensor(std::vector<int64_t>{1, 2}, {2}).dtype() == kInt64);
  CHECK(tensor(std::vector<bool>{true, false}, {2}).dtype() == kBool);
  CHECK(tensor<int>({1, 2}).dtype() == kInt64);
  CHECK(tensor(std::vector<double>{0.1}, {}, {.dtype = kFloat32}).item<float>() == 0.1f);
  CHECK(tensor(std::vector<float>{}, {0, 2}).sizes() == Shape{0, 2});
  CHECK_THROWS_WITH_AS(tensor(std::vector<double>{1, 2, 3}, {2, 2}), doctest::Contains("needs 4 values but 3"),
                       descent::ShapeError);

  std::vector<double> memory{1, 2, 3, 4};
  Tensor blob = from_blob(memory.data(), {2, 2}, kFloat64);
  CHECK(blob.data_ptr() == memory.data());
  blob.mul_(10);
  CHECK(memory == std::vector<double>{10, 20, 30, 40});
  memory[3] = -1;
  CHECK(blob[1][1].item<double>() == -1);
  {
    Tensor view = blob.view({4});  // the borrowed memory outlives every handle and is never freed
    CHECK(view.storage() == blob.storage());
  }
}

TEST_CASE("to(dtype), to(device), clone, copy_ and fill_") {
  Tensor x = tensor<double>({1.75, -2.5, 3.0});
  CHECK(x.to(kFloat64).is_same(x));  // no copy when nothing changes
  CHECK_FALSE(x.to(kFloat64, true).is_same(x));
  CHECK(x.to(kFloat64, true).storage() != x.storage());
  CHECK(x.to(kInt64).to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  CHECK(x.to(kBool).to_vector<bool>() == std::vector<bool>{true, true, true});
  CHECK(x.to(Device(kCPU)).is_same(x));
  CHECK(x.cpu().is_same(x));
  CHECK(x.to(Device("cpu"), kFloat32).dtype() == kFloat32);
  Tensor c = x.clone();
  CHECK(equal(c, x));
  CHECK(c.storage() != x.storage());
  // copy_ converts dtype and broadcasts, writing into the destination's storage.
  Tensor dst = zeros({2, 3}, {.dtype = kFloat32});
  auto storage = dst.storage();
  dst.copy_(x);
  CHECK(dst.storage() == storage);
  CHECK(values_of(dst) == std::vector<float>{1.75f, -2.5f, 3, 1.75f, -2.5f, 3});
  Tensor ints = zeros({3}, {.dtype = kInt64});
  ints.copy_(x);
  CHECK(ints.to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  // Copying a tensor onto itself or from an overlapping view.
  Tensor self = arange(4, {.dtype = kFloat32});
  self.copy_(self);
  CHECK(values_of(self) == std::vector<float>{0, 1, 2, 3});
  dst.fill_(2.5);
  CHECK(values_of(dst) == std::vector<float>(6, 2.5f));
  dst.fill_(scalar_tensor(-1.0));
  CHECK(values_of(dst) == std::vector<float>(6, -1.0f));
  Tensor z = zeros({2}, {.dtype = kComplex128});
  z.fill_(Scalar(std::complex<double>(1, -1)));
  CHECK(z.to_vector<std::complex<double>>()[1] == std::complex<double>(1, -1));
}

TEST_CASE("item and data_ptr<T>") {
  CHECK(scalar_tensor(2.5).item().to<double>() == 2.5);
  CHECK(scalar_tensor(2.5).item().is_floating_point());
  CHECK(scalar_tensor(3).item().is_integral(false));
  CHECK(scalar_tensor(true).item().is_bool());
  CHECK(ones({1, 1}).item<float>() == 1.0f);
  CHECK(tensor<std::complex<double>>({{1, 2}}).item().to_complex() == std::complex<double>(1, 2));
  CHECK(scalar_tensor(0.1, {.dtype = kFloat16}).item<double>() == static_cast<float>(Half(0.1f)));
  CHECK(arange(5)[3].item<int64_t>() == 3);
  Tensor x = zeros({3}, {.dtype = kFloat64});
  CHECK(x.data_ptr<double>() == x.data_ptr());
  CHECK(x[1].data_ptr<double>() == x.data_ptr<double>() + 1);
  CHECK(zeros({2}, {.dtype = kFloat16}).data_ptr<Half>() != nullptr);
  CHECK(zeros({2}, {.dtype = kComplex64}).data_ptr<std::complex<float>>() != nullptr);
  CHECK_THROWS_WITH_AS(x.data_ptr<float>(), doctest::Contains("expected a tensor of dtype torch.float32"),
                       descent::TypeError);
  CHECK_THROWS_WITH_AS(x.data_ptr<int64_t>(), doctest::Contains("but the tensor has dtype torch.float64"),
                       descent::TypeError);
  CHECK_THROWS_WITH_AS(x.item(), doctest::Contains("a Tensor with 3 elements cannot be converted to Scalar"),
                       descent::ValueError);
  CHECK_THROWS_WITH_AS(empty({0}).item(), doctest::Contains("0 elements"), descent::ValueError);
}

TEST_CASE("metadata") {
  Tensor x = zeros({2, 3, 4}, {.dtype = kBFloat16});
  CHECK(x.dim() == 3);
  CHECK(x.ndimension() == 3);
  CHECK(x.numel() == 24);
  CHECK(x.size(-1) == 4);
  CHECK(x.element_size() == 2);
  CHECK(x.nbytes() == 48);
  CHECK(x.strides() == Shape{12, 4, 1});
  CHECK(x.is_contiguous());
  CHECK(x.is_floating_point());
  CHECK_FALSE(x.is_complex());
  CHECK_FALSE(x.is_sparse());
  CHECK(x.is_cpu());
  CHECK_FALSE(x.is_cuda());
  CHECK(x.layout() == Layout::Strided);
  CHECK(zeros({}).strides().empty());
  CHECK(zeros({2, 0, 3}).strides() == Shape{3, 3, 1});
  CHECK(Tensor().defined() == false);
  CHECK(x.defined());
  Tensor alias = x;
  CHECK(alias.is_same(x));
  CHECK_FALSE(x.clone().is_same(x));
  CHECK(broadcast_shapes({2, 1, 3}, {4, 1}) == Shape{2, 4, 3});
  CHECK(broadcast_shapes({}, {0}) == Shape{0});
  CHECK(numel_of({}) == 1);
  CHECK(shape_to_string({2, 3}) == "[2, 3]");
}
