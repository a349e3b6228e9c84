// Arithmetic on sparse COO tensors, as PyTorch's CPU kernels do it (what the
// sparse paths of SGD, Adagrad and SparseAdam need): sparse + sparse,
// multiplying or dividing by a number, negation, and the value maps that
// need unique indices (sqrt, square, pow), which coalesce first. Index
// bookkeeping runs on the host; values keep their device.
#include <cstring>

#include "tensor/native.h"

namespace descent::native {

namespace {
// The same indices (and coalesced flag) as `like`, with new values.
Tensor with_values(const Tensor& like, Tensor values, bool coalesced) {
  return sparse_coo_tensor(like._indices(), std::move(values), like.sizes(), coalesced);
}

// Rows positions[i] of `values` (cast to dtype), a zero row where positions[i] < 0.
Tensor gather_rows(const Tensor& values, const std::vector<int64_t>& positions, Dtype dtype) {
  Tensor src = contiguous(values.dtype() == dtype ? values : to(values, values.device(), dtype, false));
  Shape shape = src.sizes();
  shape[0] = static_cast<int64_t>(positions.size());
  Tensor out = empty(shape, dtype, src.device());
  fill_(out, 0);
  const int64_t row = shape[0] ? numel_of(shape) / shape[0] : 0;
  if (row == 0) return out;
  if (src.device().is_cpu()) {
    const std::size_t bytes = static_cast<std::size_t>(row) * element_size(dtype);
    const auto* from = static_cast<const char*>(src.data_ptr());
    auto* to_ptr = static_cast<char*>(out.data_ptr());
    for (std::size_t i = 0; i < positions.size(); ++i)
      if (positions[i] >= 0) std::memcpy(to_ptr + i * bytes, from + positions[i] * bytes, bytes);
    return out;
  }
  for (std::size_t i = 0; i < positions.size(); ++i)
    if (positions[i] >= 0) {
      Tensor dst = select(out, 0, static_cast<int64_t>(i));
      copy_(dst, select(src, 0, positions[i]));
    }
  return out;
}
}  // namespace

Tensor sparse_add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (a.sizes() != b.sizes())
    raise<ShapeError>("add: expected sizes of 'self' and 'other' to match, but ", shape_to_string(a.sizes()),
                      " != ", shape_to_string(b.sizes()));
  const int64_t sparse_dim = a.sparse_dim();
  if (sparse_dim != b.sparse_dim())
    raise<ShapeError>("add: expected 'self' and 'other' to have same density, but 'self' has ", sparse_dim,
                      " sparse dimensions while 'other' has ", b.sparse_dim(), " sparse dimensions");
  if (a.device() != b.device())
    raise<DeviceError>("add: expected all tensors to be on the same device, but found at least two devices, ",
                       a.device().str(), " and ", b.device().str(), "!");
  // PyTorch's add_out_sparse_contiguous: one walk over both index lists in
  // their stored order. An entry of `a` and one of `b` with equal indices
  // become one entry; otherwise the entry with the larger index is taken
  // first. Coalesced inputs give their sorted union; uncoalesced ones an
  // uncoalesced result that keeps every entry the walk did not pair.
  Tensor ai = a._indices().cpu(), bi = b._indices().cpu();
  const int64_t an = a._nnz(), bn = b._nnz();
  const auto* ap = static_cast<const int64_t*>(ai.data_ptr());
  const auto* bp = static_cast<const int64_t*>(bi.data_ptr());
  std::vector<int64_t> from_a, from_b, out_indices;
  from_a.reserve(an + bn);
  from_b.reserve(an + bn);
  int64_t i = 0, j = 0;
  while (i < an || j < bn) {
    int cmp = 0;  // > 0: take a's entry, < 0: b's, 0: both
    if (i >= an) {
      cmp = -1;
    } else if (j >= bn) {
      cmp = 1;
    } else {
      for (int64_t d = 0; d < sparse_dim; ++d) {
        const int64_t x = ap[d * an + i], y = bp[d * bn + j];
        if (x != y) {
          cmp = x < y ? 1 : -1;
          break;
        }
      }
    }
    const int64_t* src = cmp >= 0 ? ap : bp;
    const int64_t stride = cmp >= 0 ? an : bn, at = cmp >= 0 ? i : j;
    for (int64_t d = 0; d < sparse_dim; ++d) out_indices.push_back(src[d * stride + at]);
    from_a.push_back(cmp >= 0 ? i++ : -1);
    from_b.push_back(cmp <= 0 ? j++ : -1);
  }
  const auto out_nnz = static_cast<int64_t>(from_a.size());
  // out_indices is entry-major; the COO layout is dimension-major.
  Tensor idx = empty({sparse_dim, out_nnz}, kInt64, Device(kCPU));
  auto* ip = static_cast<int64_t*>(idx.data_ptr());
  for (int64_t e = 0; e < out_nnz; ++e)
    for (int64_t d = 0; d < sparse_dim; ++d) ip[d * out_nnz + e] = out_indices[e * sparse_dim + d];
  // r = a's row (or 0), then r += alpha·b's row (or 0): one fma per element, as PyTorch's axpy.
  const Dtype dtype = promote_types(a.dtype(), b.dtype());
  Tensor values = add(gather_rows(a._values(), from_a, dtype), gather_rows(b._values(), from_b, dtype), alpha);
  return sparse_coo_tensor(to(idx, a._indices().device(), kInt64, false), values, a.sizes(),
                           a.is_coalesced() && b.is_coalesced());
}

Tensor& sparse_add_(Tensor& self, const Tensor& other, const Scalar& alpha) {
  Tensor sum = sparse_add(self, other, alpha);
  TensorImpl& impl = *self.unsafe_get_impl();
  impl.sparse_indices = sum._indices();
  impl.sparse_values = sum.dtype() == self.dtype() ? sum._values() : to(sum._values(), self.device(), self.dtype(), false);
  impl.coalesced = sum.is_coalesced();
  return self;
}

// Linear in the values: any entry order, the coalesced flag kept.
Tensor sparse_mul(const Tensor& t, const Scalar& s) { return with_values(t, mul(t._values(), s), t.is_coalesced()); }
Tensor sparse_div(const Tensor& t, const Scalar& s) { return with_values(t, div(t._values(), s), t.is_coalesced()); }
Tensor sparse_neg(const Tensor& t) {
  return with_values(t, unary_same("neg", UnaryOp::Neg, t._values()), t.is_coalesced());
}
Tensor& sparse_mul_(Tensor& t, const Scalar& s) {
  Tensor values = t._values();
  mul_(values, s);
  // PyTorch's in-place multiplication by a number (a wrapped 0-dim tensor)
  // clears the coalesced flag; division keeps it.
  t.unsafe_get_impl()->coalesced = false;
  return t;
}
Tensor& sparse_div_(Tensor& t, const Scalar& s) {
  Tensor values = t._values();
  div_(values, s);
  return t;
}

// Not linear: duplicates are summed before the map (sqrt(a) + sqrt(b) != sqrt(a + b)).
Tensor sparse_sqrt(const Tensor& t) {
  Tensor c = coalesce(t);
  return with_values(c, unary_float("sqrt", UnaryOp::Sqrt, c._values()), true);
}
Tensor sparse_square(const Tensor& t) {
  Tensor c = coalesce(t);
  return with_values(c, mul(c._values(), c._values()), true);
}
Tensor sparse_pow(const Tensor& t, const Scalar& exponent) {
  if (exponent.to<double>() == 0)
    raise<RuntimeError>("pow: cannot raise to zeroth power on sparse tensor; it would make the result tensor dense");
  Tensor c = coalesce(t);
  return with_values(c, pow(c._values(), exponent), true);
}

}  // namespace descent::native
