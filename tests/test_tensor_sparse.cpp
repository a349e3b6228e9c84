// Sparse COO tensors against PyTorch (fixtures from
// scripts/fixtures/tensor_ops.py): construction, coalesce with duplicates
// (plain and hybrid, several dtypes), to_dense, adding into a dense tensor,
// sparse_mask; and every constructor error.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>

#include "descent/descent.h"
#include "tensor_testing.h"

using namespace descent;
using namespace descent::testing;

TEST_CASE("coalesce, to_dense, add into dense and sparse_mask match PyTorch") {
  int checked = 0;
  for (const FixtureCase& c : load_fixture("tensor/sparse.txt")) {
    CAPTURE(c.name);
    Shape size = parse_list(config(c, "size"));
    const Tensor& idx = c.tensor("indices");
    const Tensor& vals = c.tensor("values");
    Tensor s = sparse_coo_tensor(idx, vals, size);
    CHECK(s.is_sparse());
    CHECK(s.layout() == Layout::SparseCoo);
    CHECK(s.sizes() == size);
    CHECK(s.dtype() == vals.dtype());
    CHECK(s._nnz() == idx.size(1));
    CHECK(s.sparse_dim() == idx.size(0));
    CHECK(s.dense_dim() == vals.dim() - 1);
    CHECK(s.is_coalesced() == (idx.size(1) <= 1));
    CHECK(mismatch(s._indices(), idx).empty());
    CHECK(mismatch(s._values(), vals).empty());

    Tensor co = s.coalesce();
    CHECK(co.is_coalesced());
    CHECK(co.coalesce().is_same(co));
    CHECK_MESSAGE(mismatch(co.indices(), c.tensor("c_indices")).empty(), mismatch(co.indices(), c.tensor("c_indices")));
    CHECK_MESSAGE(mismatch(co.values(), c.tensor("c_values")).empty(), mismatch(co.values(), c.tensor("c_values")));
    // The uncoalesced input is left alone.
    CHECK(s._nnz() == idx.size(1));
    CHECK_MESSAGE(mismatch(s.to_dense(), c.tensor("dense")).empty(), mismatch(s.to_dense(), c.tensor("dense")));
    CHECK(mismatch(co.to_dense(), c.tensor("dense")).empty());
    if (!c.has("other")) {
      ++checked;
      continue;
    }
    const Tensor& other = c.tensor("other");
    Tensor sum = add(other, s);
    CHECK_MESSAGE(mismatch(sum, c.tensor("add")).empty(), mismatch(sum, c.tensor("add")));
    CHECK_FALSE(sum.is_sparse());
    CHECK(mismatch(other + s, c.tensor("add")).empty());
    Tensor acc = other.clone();
    int64_t version = acc._version();
    Scalar alpha = other.dtype() == kInt64 ? Scalar(static_cast<int64_t>(c.scalar("alpha"))) : Scalar(c.scalar("alpha"));
    Tensor& r = acc.add_(s, alpha);
    CHECK(r.is_same(acc));
    CHECK(acc._version() > version);
    CHECK_MESSAGE(mismatch(acc, c.tensor("add_alpha")).empty(), mismatch(acc, c.tensor("add_alpha")));
    Tensor masked = other.sparse_mask(co);
    CHECK(masked.is_sparse());
    CHECK(mismatch(masked._indices(), c.tensor("mask_indices")).empty());
    CHECK(mismatch(masked._values(), c.tensor("mask_values")).empty());
    // An uncoalesced mask selects the same entries.
    CHECK(mismatch(other.sparse_mask(s)._values(), c.tensor("mask_values")).empty());
    ++checked;
  }
  CHECK(checked == 12);
}

TEST_CASE("indices() and values() need a coalesced tensor, _indices()/_values() do not") {
  Tensor idx = tensor<int64_t>({0, 0}).view({1, 2});
  Tensor s = sparse_coo_tensor(idx, tensor<float>({1, 2}), {3});
  CHECK_FALSE(s.is_coalesced());
  CHECK_THROWS_WITH_AS(s.indices(), doctest::Contains("cannot get indices on an uncoalesced tensor"),
                       descent::RuntimeError);
  CHECK_THROWS_WITH_AS(s.values(), doctest::Contains("cannot get values on an uncoalesced tensor"),
                       descent::RuntimeError);
  CHECK(s._values().numel() == 2);
  // A tensor declared coalesced is trusted, as in PyTorch.
  Tensor t = sparse_coo_tensor(tensor<int64_t>({0, 2}).view({1, 2}), tensor<float>({1, 2}), {3}, true);
  CHECK(t.is_coalesced());
  CHECK(t.indices().numel() == 2);
  CHECK(s.coalesce().values().to_vector<float>() == std::vector<float>{3});
}

TEST_CASE("sparse conversions: to(dtype), clone, copy_, to_sparse") {
  Tensor idx = tensor<int64_t>({0, 2, 1, 1}).view({2, 2});
  Tensor s = sparse_coo_tensor(idx, tensor<float>({1.5f, -2.0f}), {3, 2});
  Tensor d = s.to(kFloat64);
  CHECK(d.is_sparse());
  CHECK(d.dtype() == kFloat64);
  CHECK(equal(d.to_dense(), s.to_dense().to(kFloat64)));
  Tensor c = s.clone();
  CHECK(c.is_sparse());
  CHECK_FALSE(c._values().storage() == s._values().storage());
  Tensor dst = sparse_coo_tensor(tensor<int64_t>({0, 0}).view({2, 1}), tensor<double>({9}), {3, 2});
  dst.copy_(s);
  CHECK(dst.dtype() == kFloat64);
  CHECK(equal(dst.to_dense(), s.to_dense().to(kFloat64)));
  Tensor dense = tensor<float>({0, 1.5f, 0, 0, -2, 0}).view({2, 3});
  Tensor back = dense.to_sparse();
  CHECK(back.is_coalesced());
  CHECK(back._nnz() == 2);
  CHECK(back.indices().to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1, 1});
  CHECK(equal(back.to_dense(), dense));
  CHECK(equal(s.to_dense().to_sparse().to_dense(), s.to_dense()));
  CHECK(equal(dense.to_dense(), dense));
  CHECK(dense.sparse_dim() == 0);
  CHECK(dense.dense_dim() == 2);
  CHECK(equal(s, s.coalesce()));
}

TEST_CASE("sparse constructor errors") {
  Tensor idx = tensor<int64_t>({0, 1, 1, 0}).view({2, 2});
  Tensor vals = tensor<float>({1, 2});
  CHECK_THROWS_WITH_AS(sparse_coo_tensor(idx.to(kFloat32), vals, {2, 2}),
                       doctest::Contains("indices must be an int64 tensor, but got torch.float32"), descent::TypeError);
  CHECK_THROWS_WITH_AS(sparse_coo_tensor(tensor<int64_t>({0, 1}), vals, {2}),
                       doctest::Contains("indices must be sparse_dim x nnz, but got: [2]"), descent::ShapeError);
  CHECK_THROWS_WITH_AS(sparse_coo_tensor(idx, scalar_tensor(1.0), {2, 2}),
                       doctest::Contains("values must have at least one dimension"), descent::ShapeError);
  CHECK_THROWS_WITH_AS(sparse_coo_tensor(idx, tensor<float>({1, 2, 3}), {2, 2}),
                       doctest::Contains("number of values (3) must match the number of indices (2)"),
                       descent::ShapeError);
  CHECK_THROWS_WITH_AS(sparse_coo_tensor(idx, vals, {2, 2, 2}),
                       doctest::Contains("number of dimensions must be sparse_dim (2) + dense_dim (0), but got 3"),
                       descent::ShapeError);
  CHECK_THROWS_WITH_AS(sparse_coo_tensor(idx, ones({2, 3}), {2, 2, 4}),
                       doctest::Contains("requires 4 at dimension 2"), descent::ShapeError);
  CHECK_THROWS_WITH_AS(sparse_coo_tensor(idx, vals, {2, 1}),
                       doctest::Contains("index 1 is out of bounds for dimension 1 with size 1"), descent::IndexError);
  CHECK_THROWS_WITH_AS(sparse_coo_tensor(tensor<int64_t>({-1, 0}).view({1, 2}), vals, {3}),
                       doctest::Contains("index -1 is out of bounds for dimension 0"), descent::IndexError);
  if (!cuda::is_available())
    CHECK_THROWS_AS(sparse_coo_tensor(idx, vals.to(Device(kCUDA)), {2, 2}), descent::DeviceError);
}

TEST_CASE("sparse operand errors") {
  Tensor s = sparse_coo_tensor(tensor<int64_t>({0, 1}).view({1, 2}), tensor<float>({1, 2}), {3});
  Tensor dense = zeros({3});
  CHECK_THROWS_WITH_AS(dense.coalesce(), doctest::Contains("coalesce: expected a sparse tensor"), descent::RuntimeError);
  CHECK_THROWS_WITH_AS(dense._nnz(), doctest::Contains("expected a sparse tensor"), descent::RuntimeError);
  CHECK_THROWS_WITH_AS(dense.sparse_mask(dense), doctest::Contains("expected a sparse tensor"), descent::RuntimeError);
  CHECK_THROWS_WITH_AS(s.sparse_mask(s), doctest::Contains("expected a dense tensor as self"),
                       descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(zeros({4}).sparse_mask(s), doctest::Contains("incompatible sizes"), descent::ShapeError);
  CHECK_THROWS_WITH_AS(add(zeros({4}), s), doctest::Contains("expected a sparse tensor of size [4] but got size [3]"),
                       descent::ShapeError);
  CHECK_THROWS_WITH_AS(s.storage(), doctest::Contains("sparse tensors do not have storage"), descent::RuntimeError);
  CHECK_THROWS_WITH_AS(s.view({3}), doctest::Contains("not supported for sparse tensors"),
                       descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(s.sum(), doctest::Contains("not supported for sparse tensors"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(s * dense, doctest::Contains("not supported for sparse tensors"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(s.exp(), doctest::Contains("not supported for sparse tensors"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(s.fill_(1), doctest::Contains("not supported for sparse tensors"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(dense.copy_(s), doctest::Contains("between sparse and dense"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(cat({s, s}), doctest::Contains("sparse tensors are not supported"), descent::NotImplementedError);
  CHECK(s.to_vector<float>() == std::vector<float>{1, 2, 0});
}

// Sparse arithmetic against PyTorch (scripts/fixtures/sparse_math.py): every
// result's indices, values and coalesced flag, bit for bit.
TEST_CASE("sparse + sparse, scaling, negation, sqrt, square and pow match PyTorch") {
  int checked = 0;
  for (const FixtureCase& c : load_fixture("tensor/sparse_math.txt")) {
    CAPTURE(c.name);
    const Shape size = parse_list(config(c, "size"));
    auto operand = [&](const std::string& k) {
      return sparse_coo_tensor(c.tensor(k + "_indices"), c.tensor(k + "_values"), size, c.scalar(k + "_coalesced") != 0);
    };
    const Tensor a = operand("a"), b = operand("b");
    const Dtype other = a.dtype() == kFloat32 ? kFloat64 : kFloat32;
    const Tensor empty_like_a = sparse_coo_tensor(zeros({a.sparse_dim(), 0}, {.dtype = kInt64}),
                                                  zeros([&] {
                                                    Shape v = a._values().sizes();
                                                    v[0] = 0;
                                                    return v;
                                                  }(), {.dtype = a.dtype()}),
                                                  size);
    auto inplace = [](Tensor t, const std::function<void(Tensor&)>& op) {
      Tensor copy = t.clone();
      op(copy);
      return copy;
    };
    const std::vector<std::pair<std::string, Tensor>> results{
        {"add", add(a, b, 0.3)},
        {"add_ba", b + a},
        {"add_ca", add(a.coalesce(), b, -1.5)},
        {"add_", inplace(a, [&](Tensor& t) { t.add_(b, 0.7); })},
        {"add_mixed", add(a, b.to(other))},
        {"add_mixed_", inplace(a, [&](Tensor& t) { t.add_(b.to(other), 0.3); })},
        {"add_empty_a", add(empty_like_a, a, 3)},
        {"add_a_empty", add(a, empty_like_a, 3)},
        {"mul", a * 0.3},
        {"div", a / 3.0},
        {"neg", -a},
        {"mul_", inplace(a, [](Tensor& t) { t.mul_(0.9); })},
        {"sqrt", a.sqrt()},
        {"square", b.square()},
        {"pow", b.pow(3)},
    };
    for (const auto& [op, r] : results) {
      CAPTURE(op);
      REQUIRE(r.is_sparse());
      CHECK(r.sizes() == size);
      CHECK_MESSAGE(mismatch(r._indices(), c.tensor(op + "_indices")).empty(),
                    mismatch(r._indices(), c.tensor(op + "_indices")));
      // PyTorch's float64 CPU sqrt is not always correctly rounded (1 ulp off,
      // dense tensors too); descent's is.
      const Tolerance tol = op == "sqrt" ? Tolerance{1e-15, 0} : Tolerance{};
      CHECK_MESSAGE(mismatch(r._values(), c.tensor(op + "_values"), tol).empty(),
                    mismatch(r._values(), c.tensor(op + "_values"), tol));
      CHECK(r.is_coalesced() == (c.scalar(op + "_coalesced") != 0));
    }
    // The operands are left alone.
    CHECK(a._nnz() == c.tensor("a_indices").size(1));
    CHECK(mismatch(a._values(), c.tensor("a_values")).empty());
    ++checked;
  }
  CHECK(checked == 16);
}

TEST_CASE("sparse arithmetic errors, with PyTorch's messages") {
  Tensor s = sparse_coo_tensor(tensor<int64_t>({0, 1}).view({1, 2}), tensor<float>({1, 2}), {3});
  Tensor t = sparse_coo_tensor(tensor<int64_t>({0, 1}).view({1, 2}), tensor<float>({1, 2}), {4});
  Tensor h = sparse_coo_tensor(tensor<int64_t>({0, 1}).view({1, 2}), ones({2, 2}), {3, 2});
  Tensor h2 = sparse_coo_tensor(tensor<int64_t>({0, 1, 1, 0}).view({2, 2}), ones({2}), {3, 2});
  CHECK_THROWS_WITH_AS(add(s, t), doctest::Contains("add: expected sizes of 'self' and 'other' to match, but [3] != [4]"),
                       descent::ShapeError);
  CHECK_THROWS_WITH_AS(add(h2, h),
                       doctest::Contains("expected 'self' and 'other' to have same density, but 'self' has 2 sparse "
                                         "dimensions while 'other' has 1 sparse dimensions"),
                       descent::ShapeError);
  CHECK_THROWS_WITH_AS(add(s, zeros({3})),
                       doctest::Contains("add(sparse, dense) is not supported. Use add(dense, sparse) instead."),
                       descent::RuntimeError);
  CHECK_THROWS_WITH_AS(s.add_(zeros({3})), doctest::Contains("add(sparse, dense) is not supported"),
                       descent::RuntimeError);
  CHECK_THROWS_WITH_AS(s.pow(0), doctest::Contains("pow: cannot raise to zeroth power on sparse tensor"),
                       descent::RuntimeError);
  Tensor leaf = sparse_coo_tensor(tensor<int64_t>({0, 1}).view({1, 2}), tensor<float>({1, 2}), {3});
  leaf.requires_grad_();
  CHECK_THROWS_WITH_AS(leaf * 2, doctest::Contains("gradients through sparse tensors are not supported"),
                       descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(add(leaf, s), doctest::Contains("gradients through sparse tensors are not supported"),
                       descent::NotImplementedError);
}

// Issue 13: a sparse tensor with no sparse dims holds its nnz entries in no
// memory at all (indices [0, nnz], values [nnz, 0]); to_dense() looped over
// 2^26 of them for minutes and threw std::length_error for 2^62.
TEST_CASE("sparse ops on entries that take no memory, and on absurd sizes, are bounded and raise descent errors") {
  auto seconds_since = [](std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const auto start = std::chrono::steady_clock::now();
  for (int64_t nnz : {int64_t{1} << 62, int64_t{1} << 26, int64_t{3}}) {
    CAPTURE(nnz);
    Tensor s = sparse_coo_tensor(empty({0, nnz}, {.dtype = kInt64}), empty({nnz, 0}), {0});
    CHECK(s._nnz() == nnz);
    Tensor d;
    CHECK_NOTHROW(d = s.to_dense());
    CHECK(d.sizes() == Shape{0});
    Tensor c;
    CHECK_NOTHROW(c = s.coalesce());
    CHECK(c._nnz() == 1);  // no sparse dims: every entry is the same one
    CHECK(c.is_coalesced());
    CHECK(c._values().sizes() == Shape{1, 0});
    CHECK(c._indices().sizes() == Shape{0, 1});
    Tensor dense = zeros({0});
    CHECK_NOTHROW(dense.add_(s));
    CHECK_NOTHROW(zeros({0}).sparse_mask(s));
  }
  const double elapsed = seconds_since(start);
  MESSAGE("to_dense/coalesce/add_/sparse_mask of 2^62 + 2^26 + 3 empty entries: ", elapsed, " s");
  CHECK(elapsed < 1.0);

  // No sparse dims, entries with values: coalesce sums them, as PyTorch.
  Tensor s = sparse_coo_tensor(empty({0, 3}, {.dtype = kInt64}), tensor(std::vector<float>{1, 2, 4, 8, 16, 32}, {3, 2}), {2});
  Tensor c = s.coalesce();
  CHECK(c._nnz() == 1);
  CHECK(mismatch(c._values(), tensor(std::vector<float>{21, 42}, {1, 2})).empty());
  CHECK(mismatch(s.to_dense(), tensor({21.0f, 42.0f})).empty());
  Tensor none = sparse_coo_tensor(empty({0, 0}, {.dtype = kInt64}), empty({0, 2}), {2});
  CHECK(none.coalesce()._nnz() == 0);
  CHECK(mismatch(none.to_dense(), zeros({2})).empty());

  // Dense results too large to exist: a descent error naming the shape, never std::bad_alloc.
  Tensor huge = sparse_coo_tensor(tensor<int64_t>({5}, {1, 1}), ones({1}), {int64_t{1} << 61});
  CHECK_THROWS_WITH_AS(huge.to_dense(), doctest::Contains("shape [2305843009213693952]"), RuntimeError);
  Tensor huger = sparse_coo_tensor(tensor<int64_t>({5}, {1, 1}), ones({1}), {int64_t{1} << 62});
  CHECK_THROWS_WITH_AS(huger.to_dense(), doctest::Contains("shape [4611686018427387904]"), ValueError);
  CHECK_THROWS_WITH_AS(empty({int64_t{1} << 61}),
                       doctest::Contains("empty: cannot allocate a tensor of shape [2305843009213693952] and dtype torch."
                                         "float32 (9223372036854775808 bytes)"),
                       RuntimeError);
  CHECK_THROWS_AS(zeros({int64_t{1} << 40, int64_t{1} << 20}), descent::Error);
}
