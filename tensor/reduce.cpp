// Reductions, dot products, matmul, cat and stack.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/native.h"

namespace descent::native {

namespace {
Dtype reduce_out_dtype(const char* name, ReduceOp op, Dtype in, std::optional<Dtype> requested) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Prod:
      if (requested) return *requested;
      return is_integral(in, true) ? kInt64 : in;
    case ReduceOp::Mean: {
      Dtype d = requested ? *requested : in;
      if (!is_floating_point(d) && !is_complex(d))
        raise<TypeError>(name, "(): could not infer output dtype. Input dtype must be either a floating point or complex "
                               "dtype. Got: ", to_string(d));
      return d;
    }
    case ReduceOp::NormP2:
    case ReduceOp::NormInf:
    case ReduceOp::NormP: {
      Dtype d = requested ? *requested : in;
      if (!is_floating_point(d) && !is_complex(d))
        raise<TypeError>(name, ": expected a floating point or complex tensor as input, got ", to_string(d));
      return to_real_dtype(d);
    }
    case ReduceOp::Max:
    case ReduceOp::Min:
      if (is_complex(in)) raise<TypeError>(name, ": is not supported for complex tensors");
      return in;
    case ReduceOp::All:
    case ReduceOp::Any: return kBool;
  }
  return in;
}

// Normalises dims (negative, duplicates); an empty list means every dim.
std::vector<bool> reduce_mask(const char* name, const Tensor& t, const Shape& dims) {
  int64_t n = t.dim();
  std::vector<bool> mask(static_cast<std::size_t>(n), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, n, name);
    if (n == 0) continue;
    if (mask[w]) raise<ValueError>(name, ": dim ", w, " appears multiple times in the list of dims");
    mask[w] = true;
  }
  return mask;
}
}  // namespace

Tensor reduce(const char* name, ReduceOp op, const Tensor& t, const Shape& dims, bool keepdim,
              std::optional<Dtype> dtype, double p) {
  if (t.is_sparse()) raise<NotImplementedError>(name, ": not supported for sparse tensors (convert with to_dense())");
  Dtype out_dtype = reduce_out_dtype(name, op, t.dtype(), dtype);
  if (t.dim() > kMaxDims) raise<NotImplementedError>(name, ": tensors with more than ", kMaxDims, " dimensions");
  std::vector<bool> mask = reduce_mask(name, t, dims);
  Shape out_shape, keep_shape;
  int64_t reduced_count = 1;
  for (int64_t i = 0; i < t.dim(); ++i) {
    if (mask[i]) {
      reduced_count *= t.sizes()[i];
      keep_shape.push_back(1);
    } else {
      out_shape.push_back(t.sizes()[i]);
      keep_shape.push_back(t.sizes()[i]);
    }
  }
  if ((op == ReduceOp::Max || op == ReduceOp::Min) && reduced_count == 0 && t.numel() == 0)
    raise<IndexError>(name, "(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
                            "with the 'dim' argument.");
  // Sum/Mean/Prod with a requested dtype convert the input first, as PyTorch does.
  Dtype in_dtype = t.dtype();
  Tensor input = t;
  if (dtype && (op == ReduceOp::Sum || op == ReduceOp::Mean || op == ReduceOp::Prod) && *dtype != t.dtype()) {
    input = to(t, t.device(), *dtype, false);
    in_dtype = *dtype;
  }
  // The backend's reductions walk dense memory.
  if (!input.is_contiguous()) input = clone(input);
  Tensor out = empty(out_shape, out_dtype, t.device());
  if (out.numel() > 0) {
    ReduceArgs ra;
    ra.op = op;
    ra.in = input.numel() ? input.data_ptr() : nullptr;
    ra.in_dtype = in_dtype;
    ra.out = out.data_ptr();
    ra.out_dtype = out_dtype;
    ra.ndim = static_cast<int>(input.dim());
    for (int i = 0; i < ra.ndim; ++i) {
      ra.sizes[i] = input.sizes()[i];
      ra.reduce[i] = mask[i];
    }
    ra.p = p;
    backend_for(t.device().type).reduce(ra);
  }
  return keepdim ? make_view(out, keep_shape, 0, out_dtype) : out;
}

std::tuple<Tensor, Tensor> reduce_with_indices(const char* name, ReduceOp op, const Tensor& t, int64_t dim,
                                               bool keepdim) {
  if (t.is_sparse()) raise<NotImplementedError>(name, ": not supported for sparse tensors");
  if (is_complex(t.dtype())) raise<TypeError>(name, ": is not supported for complex tensors");
  int64_t n = t.dim();
  int64_t d = wrap_dim(dim, n, name);
  if (n > 0 && t.sizes()[d] == 0)
    raise<IndexError>(name, "(): Expected reduction dim ", d, " to have non-zero size.");
  Shape out_shape, keep_shape;
  for (int64_t i = 0; i < n; ++i) {
    keep_shape.push_back(i == d ? 1 : t.sizes()[i]);
    if (i != d) out_shape.push_back(t.sizes()[i]);
  }
  Tensor values = empty(out_shape, t.dtype(), t.device());
  Tensor indices = empty(out_shape, kInt64, t.device());
  if (values.numel() > 0) {
    const Tensor input = t.is_contiguous() ? t : clone(t);
    ReduceArgs ra;
    ra.op = op;
    ra.in = input.data_ptr();
    ra.in_dtype = t.dtype();
    ra.out = values.data_ptr();
    ra.out_dtype = t.dtype();
    ra.indices = static_cast<int64_t*>(indices.data_ptr());
    ra.ndim = static_cast<int>(n);
    for (int i = 0; i < ra.ndim; ++i) {
      ra.sizes[i] = t.sizes()[i];
      ra.reduce[i] = i == d;
    }
    backend_for(t.device().type).reduce(ra);
  }
  if (!keepdim) return {values, indices};
  return {make_view(values, keep_shape, 0, values.dtype()), make_view(indices, keep_shape, 0, kInt64)};
}

Tensor dot(const Tensor& a, const Tensor& b, bool conjugate_first) {
  const char* name = conjugate_first ? "vdot" : "dot";
  if (a.dim() != 1 || b.dim() != 1)
    raise<ShapeError>(name, ": 1D tensors expected, but got ", a.dim(), "D and ", b.dim(), "D tensors");
  if (a.dtype() != b.dtype())
    raise<TypeError>(name, ": expected both vectors to have same dtype, but found ", to_string(a.dtype()), " and ",
                     to_string(b.dtype()));
  if (a.numel() != b.numel())
    raise<ShapeError>(name, ": inconsistent tensor size, expected tensor [", a.numel(), "] and src [", b.numel(),
                      "] to have the same number of elements, but got ", a.numel(), " and ", b.numel(),
                      " elements respectively");
  if (a.dtype() == kBool) raise<NotImplementedError>(name, ": not implemented for bool tensors");
  Tensor lhs = conjugate_first && is_complex(a.dtype()) ? unary_same("vdot", UnaryOp::Conj, a) : a;
  if (a.dtype() == kFloat16 || a.dtype() == kBFloat16) {
    // PyTorch multiplies and accumulates float16/bfloat16 dot products in float, rounding once.
    Tensor products = mul(to(lhs, lhs.device(), kFloat32, false), to(b, b.device(), kFloat32, false));
    return to(reduce(name, ReduceOp::Sum, products, {}, false, std::nullopt), a.device(), a.dtype(), false);
  }
  return reduce(name, ReduceOp::Sum, mul(lhs, b), {}, false, std::nullopt);
}

namespace {
// How the backend reads `t` ([batch..., rows, cols]) as `count` matrices: in
// place when its batch dims merge into one stride and each matrix has unit
// row or column stride (a transposed view), else from a contiguous copy,
// which `t` then holds.
MatmulOperand matmul_operand(Tensor& t, int64_t count) {
  const int64_t rows = t.sizes()[t.dim() - 2], cols = t.sizes()[t.dim() - 1];
  auto layout = [&]() -> std::optional<MatmulOperand> {
    std::optional<Shape> s = view_strides(t, {count, rows, cols});
    if (!s) return std::nullopt;
    MatmulOperand op{t.data_ptr(), (*s)[0], (*s)[1], (*s)[2]};
    if (count == 1) op.batch_stride = 0;
    if (cols == 1) op.col_stride = 1;
    if (rows == 1) op.row_stride = cols;
    // Unit inner stride and an outer stride that keeps rows (or columns) apart.
    if (op.col_stride == 1 && op.row_stride >= cols) return op;
    if (rows == 1) return std::nullopt;
    if (op.row_stride == 1 && op.col_stride >= rows) return op;
    return std::nullopt;
  };
  if (std::optional<MatmulOperand> op = layout()) return *op;
  t = clone(t);
  return layout().value();
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (a.dim() == 0 || b.dim() == 0)
    raise<ShapeError>("matmul: both arguments need to be at least 1D, but they are ", a.dim(), "D and ", b.dim(), "D");
  if (a.dtype() != b.dtype())
    raise<TypeError>("matmul: expected m1 and m2 to have the same dtype, but got: ", to_string(a.dtype()), " != ",
                     to_string(b.dtype()));
  Device device = common_device("matmul", {&a, &b});
  if (a.dim() == 1 && b.dim() == 1) return dot(a, b, false);
  Tensor x = a.dim() == 1 ? unsqueeze(a, 0) : a;
  Tensor y = b.dim() == 1 ? unsqueeze(b, 1) : b;
  int64_t m = x.sizes()[x.dim() - 2], k = x.sizes()[x.dim() - 1];
  int64_t k2 = y.sizes()[y.dim() - 2], n = y.sizes()[y.dim() - 1];
  if (k != k2)
    raise<ShapeError>("matmul: mat1 and mat2 shapes cannot be multiplied (", m, "x", k, " and ", k2, "x", n, ")");
  Shape xb(x.sizes().begin(), x.sizes().end() - 2), yb(y.sizes().begin(), y.sizes().end() - 2);
  Shape batch = broadcast_shapes(xb, yb);
  int64_t nb = numel_of(batch);
  auto batched = [&](const Tensor& t, const Shape& tb, int64_t r, int64_t c) {
    if (tb == batch) return t;
    Shape full_shape = batch;
    full_shape.push_back(r);
    full_shape.push_back(c);
    return expand(t, full_shape);
  };
  x = batched(x, xb, m, k);
  y = batched(y, yb, k, n);
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = empty(out_shape, a.dtype(), device);
  if (out.numel() > 0) {
    // As in PyTorch, only a product that has terms to add needs an arithmetic dtype.
    if (a.dtype() == kBool && k > 0) raise<NotImplementedError>("matmul: not implemented for bool tensors");
    if (k == 0) {
      fill_(out, 0);
    } else {
      int64_t count = std::max<int64_t>(nb, 1);
      MatmulOperand pa = matmul_operand(x, count), pc = matmul_operand(y, count);
      backend_for(device.type).matmul(a.dtype(), pa, pc, out.data_ptr(), count, m, k, n);
    }
  }
  if (a.dim() == 1) out = squeeze(out, out.dim() - 2);
  if (b.dim() == 1) out = squeeze(out, out.dim() - 1);
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) raise<ValueError>("cat: expected a non-empty list of Tensors");
  // Legacy rule: 1-D empty tensors are skipped whatever the other shapes are.
  std::vector<const Tensor*> parts;
  for (const Tensor& t : tensors) {
    if (t.is_sparse()) raise<NotImplementedError>("cat: sparse tensors are not supported");
    if (!(t.dim() == 1 && t.numel() == 0)) parts.push_back(&t);
  }
  Dtype dtype = tensors[0].dtype();
  for (const Tensor& t : tensors) dtype = promote_types(dtype, t.dtype());
  Device device = tensors[0].device();
  for (const Tensor& t : tensors)
    if (t.device() != device)
      raise<DeviceError>("cat: expected all tensors to be on the same device, but found at least two devices, ",
                         device.str(), " and ", t.device().str(), "!");
  if (parts.empty()) return empty({0}, dtype, device);
  const Tensor& ref = *parts[0];
  if (ref.dim() == 0) raise<ShapeError>("cat: zero-dimensional tensor (at position 0) cannot be concatenated");
  int64_t d = wrap_dim(dim, ref.dim(), "cat");
  Shape out_shape = ref.sizes();
  out_shape[d] = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = *parts[i];
    if (t.dim() != ref.dim())
      raise<ShapeError>("cat: tensors must have same number of dimensions: got ", ref.dim(), " and ", t.dim());
    for (int64_t j = 0; j < t.dim(); ++j)
      if (j != d && t.sizes()[j] != ref.sizes()[j])
        raise<ShapeError>("cat: sizes of tensors must match except in dimension ", d, ". Expected size ", ref.sizes()[j],
                          " but got size ", t.sizes()[j], " for tensor number ", i, " in the list.");
    out_shape[d] += t.sizes()[d];
  }
  Tensor out = empty(out_shape, dtype, device);
  int64_t outer = numel_of(Shape(out_shape.begin(), out_shape.begin() + d));
  int64_t inner = numel_of(Shape(out_shape.begin() + d + 1, out_shape.end()));
  auto es = static_cast<int64_t>(element_size(dtype));
  int64_t row = out_shape[d] * inner;
  int64_t pos = 0;
  Backend& be = backend_for(device.type);
  for (const Tensor* p : parts) {
    Tensor t = p->dtype() == dtype ? *p : to(*p, device, dtype, false);
    if (!t.is_contiguous()) t = clone(t);
    int64_t chunk = t.sizes()[d] * inner;
    if (chunk > 0)
      for (int64_t o = 0; o < outer; ++o)
        be.copy(static_cast<char*>(out.data_ptr()) + (o * row + pos) * es,
                static_cast<const char*>(t.data_ptr()) + o * chunk * es, static_cast<std::size_t>(chunk * es));
    pos += chunk;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) raise<ValueError>("stack: expects a non-empty TensorList");
  for (std::size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].sizes() != tensors[0].sizes())
      raise<ShapeError>("stack: expects each tensor to be equal size, but got ", shape_to_string(tensors[0].sizes()),
                        " at entry 0 and ", shape_to_string(tensors[i].sizes()), " at entry ", i);
  int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) expanded.push_back(unsqueeze(t, d));
  return native::cat(expanded, d);
}

}  // namespace descent::native
