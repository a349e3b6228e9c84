// Sparse COO tensors: construction with validation, coalesce, to_dense,
// sparse_mask and adding a sparse tensor into a dense one (what sparse
// gradients need). Index bookkeeping runs on the host; values keep their device.
#include <algorithm>
#include <new>
#include <numeric>
#include <stdexcept>

#include "tensor/native.h"

namespace descent {

namespace {
TensorImpl& sparse_impl(const Tensor& t, const char* op) {
  if (!t.is_sparse()) raise<RuntimeError>(op, ": expected a sparse tensor, but got a dense (strided) tensor");
  return *t.unsafe_get_impl();
}

// Host bookkeeping of n entries. With sparse dims, nnz is backed by the
// indices' own memory; without, it need not be (indices [0, nnz] and values
// [nnz, 0] take no memory for any nnz), so an absurd n is a descent error
// here, never std::length_error or std::bad_alloc.
template <typename T>
std::vector<T> host_vector(int64_t n, const char* op) {
  try {
    return std::vector<T>(static_cast<std::size_t>(n));
  } catch (const std::length_error&) {
  } catch (const std::bad_alloc&) {
  }
  raise<RuntimeError>(op, ": cannot allocate the index bookkeeping of a sparse tensor with nnz ", n, " (", n,
                      " x ", sizeof(T), " bytes): out of memory");
}

// Row-major linear index of each nnz entry over the sparse dims.
std::vector<int64_t> linear_indices(const Tensor& indices_host, const Shape& size, int64_t sparse_dim,
                                    const char* op) {
  int64_t nnz = indices_host.sizes()[1];
  const auto* idx = static_cast<const int64_t*>(indices_host.data_ptr());
  std::vector<int64_t> lin = host_vector<int64_t>(nnz, op);
  for (int64_t d = 0; d < sparse_dim; ++d)
    for (int64_t j = 0; j < nnz; ++j) lin[j] = lin[j] * size[d] + idx[d * nnz + j];
  return lin;
}

Tensor make_sparse(Tensor indices, Tensor values, Shape size, bool coalesced) {
  auto impl = std::make_shared<TensorImpl>();
  impl->layout = Layout::SparseCoo;
  impl->sizes = std::move(size);
  impl->dtype = values.dtype();
  impl->sparse_indices = std::move(indices);
  impl->sparse_values = std::move(values);
  impl->coalesced = coalesced;
  return Tensor(std::move(impl));
}
}  // namespace

Tensor sparse_coo_tensor(const Tensor& indices, const Tensor& values, const Shape& size, std::optional<bool> is_coalesced) {
  if (indices.dtype() != kInt64)
    raise<TypeError>("sparse_coo_tensor: indices must be an int64 tensor, but got ", to_string(indices.dtype()));
  if (indices.dim() != 2)
    raise<ShapeError>("sparse_coo_tensor: indices must be sparse_dim x nnz, but got: ", shape_to_string(indices.sizes()));
  if (values.dim() == 0)
    raise<ShapeError>("sparse_coo_tensor: values must have at least one dimension (nnz), but got a 0-dim tensor");
  if (indices.device() != values.device())
    raise<DeviceError>("sparse_coo_tensor: indices and values must be on the same device, but got ",
                       indices.device().str(), " and ", values.device().str());
  int64_t sparse_dim = indices.sizes()[0], nnz = indices.sizes()[1];
  if (values.sizes()[0] != nnz)
    raise<ShapeError>("sparse_coo_tensor: number of values (", values.sizes()[0], ") must match the number of indices (",
                      nnz, ")");
  int64_t dense_dim = values.dim() - 1;
  if (static_cast<int64_t>(size.size()) != sparse_dim + dense_dim)
    raise<ShapeError>("sparse_coo_tensor: number of dimensions must be sparse_dim (", sparse_dim, ") + dense_dim (",
                      dense_dim, "), but got ", size.size());
  for (int64_t d = 0; d < dense_dim; ++d)
    if (values.sizes()[d + 1] != size[sparse_dim + d])
      raise<ShapeError>("sparse_coo_tensor: values has shape ", shape_to_string(values.sizes()),
                        " but the dense part of size ", shape_to_string(size), " requires ", size[sparse_dim + d],
                        " at dimension ", sparse_dim + d);
  Tensor host = native::contiguous(indices.cpu());
  const auto* idx = static_cast<const int64_t*>(host.data_ptr());
  for (int64_t d = 0; d < sparse_dim; ++d)
    for (int64_t j = 0; j < nnz; ++j) {
      int64_t i = idx[d * nnz + j];
      if (i < 0 || i >= size[d])
        raise<IndexError>("sparse_coo_tensor: index ", i, " is out of bounds for dimension ", d, " with size ", size[d]);
    }
  return make_sparse(native::contiguous(indices), native::contiguous(values), size, is_coalesced.value_or(nnz <= 1));
}

namespace native {

Tensor coalesce(const Tensor& t) {
  TensorImpl& impl = sparse_impl(t, "coalesce");
  if (impl.coalesced) return t;
  int64_t sparse_dim = impl.sparse_indices.sizes()[0], nnz = impl.sparse_indices.sizes()[1];
  const bool has_values = impl.sparse_values.numel() > 0;
  if (sparse_dim == 0) {
    // No index tells the entries apart: they are all the one entry, summed in order.
    const int64_t out_nnz = std::min<int64_t>(nnz, 1);
    Shape vshape = impl.sparse_values.sizes();
    vshape[0] = out_nnz;
    Tensor values = native::empty(vshape, impl.sparse_values.dtype(), impl.sparse_values.device());
    native::fill_(values, 0);
    if (out_nnz == 1 && has_values) {
      Tensor dst = native::select(values, 0, 0);
      for (int64_t j = 0; j < nnz; ++j) native::add_(dst, native::select(impl.sparse_values, 0, j), 1);
    }
    return make_sparse(native::empty({0, out_nnz}, kInt64, impl.sparse_indices.device()), values, impl.sizes, true);
  }
  Tensor idx_host = impl.sparse_indices.cpu();
  std::vector<int64_t> lin = linear_indices(idx_host, impl.sizes, sparse_dim, "coalesce");
  std::vector<int64_t> order = host_vector<int64_t>(nnz, "coalesce");
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lin[a] < lin[b]; });
  std::vector<int64_t> unique_pos = host_vector<int64_t>(nnz, "coalesce");  // each sorted entry's output slot
  int64_t out_nnz = 0;
  for (int64_t j = 0; j < nnz; ++j) {
    if (j == 0 || lin[order[j]] != lin[order[j - 1]]) ++out_nnz;
    unique_pos[j] = out_nnz - 1;
  }
  Tensor new_idx = native::empty({sparse_dim, out_nnz}, kInt64, Device(kCPU));
  auto* ni = static_cast<int64_t*>(new_idx.data_ptr());
  const auto* oi = static_cast<const int64_t*>(idx_host.data_ptr());
  for (int64_t j = 0; j < nnz; ++j)
    for (int64_t d = 0; d < sparse_dim; ++d) ni[d * out_nnz + unique_pos[j]] = oi[d * nnz + order[j]];
  // Sum duplicates in sorted order with the tensor ops, so the arithmetic is the value dtype's.
  Shape vshape = impl.sparse_values.sizes();
  vshape[0] = out_nnz;
  Tensor values = native::empty(vshape, impl.sparse_values.dtype(), impl.sparse_values.device());
  native::fill_(values, 0);
  for (int64_t j = 0; has_values && j < nnz; ++j) {
    Tensor dst = native::select(values, 0, unique_pos[j]);
    native::add_(dst, native::select(impl.sparse_values, 0, order[j]), 1);
  }
  return make_sparse(native::to(new_idx, impl.sparse_indices.device(), kInt64, false), values, impl.sizes, true);
}

Tensor to_dense(const Tensor& t) {
  TensorImpl& impl = sparse_impl(t, "to_dense");
  Tensor dense = native::empty(impl.sizes, impl.dtype, impl.sparse_values.device());
  native::fill_(dense, 0);
  return sparse_add_to_dense(dense, t, 1);
}

Tensor sparse_add_to_dense(const Tensor& dense, const Tensor& sparse, const Scalar& alpha) {
  TensorImpl& impl = sparse_impl(sparse, "add");
  if (dense.sizes() != impl.sizes)
    raise<ShapeError>("add: expected a sparse tensor of size ", shape_to_string(dense.sizes()), " but got size ",
                      shape_to_string(impl.sizes));
  if (dense.device() != sparse.device())
    raise<DeviceError>("add: expected all tensors to be on the same device, but found at least two devices, ",
                       dense.device().str(), " and ", sparse.device().str(), "!");
  // Entries without values (a dense part with a zero size) add nothing; there may be any number of them.
  if (impl.sparse_values.numel() == 0) {
    dense.bump_version();
    return dense;
  }
  int64_t sparse_dim = impl.sparse_indices.sizes()[0], nnz = impl.sparse_indices.sizes()[1];
  Tensor idx_host = impl.sparse_indices.cpu();
  std::vector<int64_t> lin = linear_indices(idx_host, impl.sizes, sparse_dim, "add");
  int64_t rows = numel_of(Shape(impl.sizes.begin(), impl.sizes.begin() + sparse_dim));
  Shape row_shape(impl.sizes.begin() + sparse_dim, impl.sizes.end());
  Shape flat_shape{rows};
  flat_shape.insert(flat_shape.end(), row_shape.begin(), row_shape.end());
  Tensor flat = native::view(dense, flat_shape);
  for (int64_t j = 0; j < nnz; ++j) {
    Tensor dst = native::select(flat, 0, lin[j]);
    native::add_(dst, native::select(impl.sparse_values, 0, j), alpha);
  }
  dense.bump_version();
  return dense;
}

Tensor to_sparse(const Tensor& t) {
  if (t.is_sparse()) return t;
  Tensor host = native::contiguous(native::to(t, Device(kCPU), t.dtype(), false));
  Tensor nz = native::to(native::compare(BinaryOp::Ne, "to_sparse", host, Scalar(0)), Device(kCPU), kBool, false);
  const bool* mask = static_cast<const bool*>(nz.data_ptr());
  int64_t n = t.numel(), ndim = std::max<int64_t>(t.dim(), 0);
  std::vector<int64_t> positions;
  for (int64_t i = 0; i < n; ++i)
    if (mask[i]) positions.push_back(i);
  auto nnz = static_cast<int64_t>(positions.size());
  Tensor idx = native::empty({ndim, nnz}, kInt64, Device(kCPU));
  auto* ip = static_cast<int64_t*>(idx.data_ptr());
  Tensor values = native::empty({nnz}, t.dtype(), Device(kCPU));
  Tensor flat = native::view(host, {n});
  for (int64_t j = 0; j < nnz; ++j) {
    int64_t rem = positions[j];
    for (int64_t d = ndim - 1; d >= 0; --d) {
      ip[d * nnz + j] = rem % t.sizes()[d];
      rem /= t.sizes()[d];
    }
    Tensor dst = native::select(values, 0, j);
    native::copy_(dst, native::select(flat, 0, positions[j]));
  }
  return make_sparse(native::to(idx, t.device(), kInt64, false), native::to(values, t.device(), t.dtype(), false),
                     t.sizes(), true);
}

}  // namespace native

Tensor Tensor::coalesce() const { return native::coalesce(*this); }
bool Tensor::is_coalesced() const { return sparse_impl(*this, "is_coalesced").coalesced; }
Tensor Tensor::to_dense() const { return is_sparse() ? native::to_dense(*this) : *this; }
Tensor Tensor::to_sparse() const { return native::to_sparse(*this); }
Tensor Tensor::_indices() const { return sparse_impl(*this, "_indices").sparse_indices; }
Tensor Tensor::_values() const { return sparse_impl(*this, "_values").sparse_values; }
Tensor Tensor::indices() const {
  if (!sparse_impl(*this, "indices").coalesced)
    raise<RuntimeError>("indices: cannot get indices on an uncoalesced tensor, please call .coalesce() first");
  return impl()->sparse_indices;
}
Tensor Tensor::values() const {
  if (!sparse_impl(*this, "values").coalesced)
    raise<RuntimeError>("values: cannot get values on an uncoalesced tensor, please call .coalesce() first");
  return impl()->sparse_values;
}
int64_t Tensor::_nnz() const { return sparse_impl(*this, "_nnz").sparse_indices.sizes()[1]; }
int64_t Tensor::sparse_dim() const { return is_sparse() ? impl()->sparse_indices.sizes()[0] : 0; }
int64_t Tensor::dense_dim() const { return is_sparse() ? impl()->sparse_values.dim() - 1 : dim(); }

Tensor Tensor::sparse_mask(const Tensor& mask) const {
  TensorImpl& m = sparse_impl(mask, "sparse_mask");
  if (is_sparse()) raise<NotImplementedError>("sparse_mask: expected a dense tensor as self");
  if (sizes() != m.sizes)
    raise<ShapeError>("sparse_mask: operands have incompatible sizes; self has size ", shape_to_string(sizes()),
                      " but mask has size ", shape_to_string(m.sizes));
  Tensor cm = native::coalesce(mask);
  Tensor idx = cm._indices();
  int64_t sparse_dim = idx.sizes()[0], nnz = idx.sizes()[1];
  std::vector<int64_t> lin = linear_indices(idx.cpu(), m.sizes, sparse_dim, "sparse_mask");
  int64_t rows = numel_of(Shape(m.sizes.begin(), m.sizes.begin() + sparse_dim));
  Shape flat_shape{rows};
  flat_shape.insert(flat_shape.end(), m.sizes.begin() + sparse_dim, m.sizes.end());
  Tensor flat = native::reshape(*this, flat_shape);
  Shape vshape = flat_shape;
  vshape[0] = nnz;
  Tensor values = native::empty(vshape, dtype(), device());
  for (int64_t j = 0; j < nnz; ++j) {
    Tensor dst = native::select(values, 0, j);
    native::copy_(dst, native::select(flat, 0, lin[j]));
  }
  return make_sparse(idx, values, m.sizes, true);
}

}  // namespace descent
