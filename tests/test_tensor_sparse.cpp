// Sparse COO tensors against PyTorch (fixtures from
// scripts/fixtures/tensor_ops.py): construction, coalesce with duplicates
// (plain and hybrid, several dtypes), to_dense, adding into a dense tensor,
// sparse_mask; and every constructor error.
#include <doctest/doctest.h>

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
  CHECK_THROWS_WITH_AS(s * 2, doctest::Contains("not supported for sparse tensors"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(s.sqrt(), doctest::Contains("not supported for sparse tensors"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(s.fill_(1), doctest::Contains("not supported for sparse tensors"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(dense.copy_(s), doctest::Contains("between sparse and dense"), descent::NotImplementedError);
  CHECK_THROWS_WITH_AS(cat({s, s}), doctest::Contains("sparse tensors are not supported"), descent::NotImplementedError);
  CHECK(s.to_vector<float>() == std::vector<float>{1, 2, 0});
}
