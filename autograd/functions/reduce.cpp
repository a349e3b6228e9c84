// Backward formulas of reductions, dot products and matmul.
#include <cmath>
#include <limits>

#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"
#include "tensor/native.h"

namespace descent::autograd {

namespace {
const Tensor kNone;

// The shape of a keepdim reduction of `sizes` over dims (empty: all dims).
Shape keep_shape(const Shape& sizes, const Shape& dims) {
  Shape keep = sizes;
  auto n = static_cast<int64_t>(sizes.size());
  if (dims.empty()) {
    std::fill(keep.begin(), keep.end(), 1);
  } else {
    for (int64_t d : dims) keep[native::wrap_dim(d, n, "sum")] = 1;
  }
  return keep;
}

// Every dim of a tensor of rank n (for keepdim reductions over everything).
Shape all_dims(int64_t n) {
  Shape dims(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) dims[i] = i;
  return dims;
}

// The reduced gradient put back to the keepdim shape.
Tensor unsqueeze_reduced(const Tensor& g, const Shape& sizes, const Shape& dims) {
  Shape keep = keep_shape(sizes, dims);
  return g.sizes() == keep ? g : g.reshape(keep);
}

int64_t reduced_count(const Shape& sizes, const Shape& dims) {
  if (dims.empty()) return numel_of(sizes);
  int64_t n = 1;
  for (int64_t d : dims) n *= sizes[native::wrap_dim(d, static_cast<int64_t>(sizes.size()), "mean")];
  return n;
}

Tensor sum_backward(const Tensor& g, const Shape& sizes, const Shape& dims) {
  return unsqueeze_reduced(g, sizes, dims).expand(sizes);
}

// PyTorch's norm_backward for the vector p-norm over dims.
Tensor norm_backward(const Tensor& grad, const Tensor& self, double p, const Tensor& norm,
                     const Shape& dims) {
  Tensor g = unsqueeze_reduced(grad, self.sizes(), dims);
  Tensor nrm = unsqueeze_reduced(norm, self.sizes(), dims);
  if (p == 0.0) return zeros_like(self);
  if (p == 1.0) return mul(sgn(self), g);
  if (p == 2.0) return mul(g, where(nrm.eq(Scalar(0)), Scalar(0), div(self, nrm)));
  if (std::isinf(p)) {
    Tensor self_abs = abs(self);
    Tensor mask = logical_or(eq(self_abs, nrm), isnan(self_abs));
    Shape keep_dims = dims.empty() ? all_dims(self.dim()) : dims;
    return mul(sgn(self), mul(div(g, mask.sum(keep_dims, true)), mask));
  }
  if (p < 1.0) {
    Tensor scaled = mul(sgn(self), where(self.eq(Scalar(0)), Scalar(0), pow(abs(self), Scalar(p - 1))));
    return mul(mul(scaled, g), pow(nrm, Scalar(1 - p)));
  }
  Tensor scaled =
      p < 2.0 ? mul(sgn(self), pow(abs(self), Scalar(p - 1))) : mul(self, pow(abs(self), Scalar(p - 2)));
  Tensor scale_v = where(nrm.eq(Scalar(0)), Scalar(0), div(g, pow(nrm, Scalar(p - 1))));
  return mul(scaled, scale_v);
}

// d prod / d x_i = product of the other elements, computed without dividing by zeros.
Tensor prod_of_others(const Tensor& self) {
  Tensor flat = self.reshape({-1});
  int64_t n = flat.numel();
  std::vector<Tensor> before(static_cast<std::size_t>(n)), after(static_cast<std::size_t>(n));
  Tensor one = ones({}, {.dtype = self.dtype(), .device = self.device()});
  before[0] = one;
  for (int64_t i = 1; i < n; ++i) before[i] = mul(before[i - 1], flat.select(0, i - 1));
  after[n - 1] = one;
  for (int64_t i = n - 2; i >= 0; --i) after[i] = mul(after[i + 1], flat.select(0, i + 1));
  std::vector<Tensor> others;
  for (int64_t i = 0; i < n; ++i) others.push_back(mul(before[i], after[i]));
  return stack(others).reshape(self.sizes());
}
}  // namespace

Tensor record_sum(Tensor out, const Tensor& t, const Shape& dims) {
  if (!needs_grad(t)) return out;
  auto n = formula_node(dims.empty() ? "SumBackward0" : "SumBackward1", {&t});
  n->formula = [sizes = t.sizes(), dims](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {sum_backward(g[0], sizes, dims)};
  };
  return finish(std::move(out), n);
}

Tensor record_mean(Tensor out, const Tensor& t, const Shape& dims) {
  if (!needs_grad(t)) return out;
  auto n = formula_node(dims.empty() ? "MeanBackward0" : "MeanBackward1", {&t});
  n->formula = [sizes = t.sizes(), dims](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {div(sum_backward(g[0], sizes, dims), Scalar(reduced_count(sizes, dims)))};
  };
  return finish(std::move(out), n);
}

Tensor record_norm(Tensor out, const Tensor& t, double p, const Shape& dims) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("LinalgVectorNormBackward0", {&t});
  std::size_t st = n->save(t);
  set_history(out, n);
  std::size_t sr = n->save(out, true);
  n->formula = [st, sr, p, dims](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {norm_backward(g[0], n.saved(st), p, n.saved(sr), dims)};
  };
  return out;
}

Tensor record_prod(Tensor out, const Tensor& t) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("ProdBackward0", {&t});
  std::size_t st = n->save(t);
  set_history(out, n);
  std::size_t sr = n->save(out, true);
  n->formula = [st, sr](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor self = n.saved(st);
    if (self.dim() == 0) return {g[0]};
    int64_t zero_count = self.eq(Scalar(0)).sum().item<int64_t>();
    if (zero_count == 0) return {mul(g[0], conj(div(n.saved(sr), self)))};
    if (zero_count > 1 && !is_grad_enabled()) return {zeros_like(self)};
    return {mul(g[0], conj(prod_of_others(self)))};
  };
  return out;
}

Tensor record_max_all(Tensor out, const Tensor& t, bool is_max) {
  if (!needs_grad(t)) return out;
  auto n = formula_node(is_max ? "MaxBackward1" : "MinBackward1", {&t});
  std::size_t st = n->save(t);
  set_history(out, n);
  std::size_t sr = n->save(out, true);
  n->formula = [st, sr](FormulaNode& n, const tensor_list& g) -> tensor_list {
    // The gradient is shared evenly between all elements equal to the extremum.
    Tensor self = n.saved(st), value = n.saved(sr);
    Tensor mask = value.isnan().item<bool>() ? self.isnan() : eq(self, value);
    return {where(mask, div(g[0], mask.sum()), Scalar(0))};
  };
  return out;
}

std::tuple<Tensor, Tensor> record_max_dim(std::tuple<Tensor, Tensor> out, const Tensor& t, int64_t dim,
                                          bool keepdim, bool is_max) {
  if (!needs_grad(t)) return out;
  auto& [values, indices] = out;
  auto n = formula_node(is_max ? "MaxBackward0" : "MinBackward0", {&t});
  std::size_t si = n->save(indices);
  int64_t d = native::wrap_dim(dim, t.dim(), is_max ? "max" : "min");
  n->formula = [si, d, keepdim, sizes = t.sizes()](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor idx = n.saved(si);
    if (sizes.empty()) return {g[0]};
    Tensor gk = keepdim ? g[0] : g[0].unsqueeze(d);
    Tensor ik = keepdim ? idx : idx.unsqueeze(d);
    Shape pos_shape(sizes.size(), 1);
    pos_shape[d] = sizes[d];
    Tensor positions = arange(sizes[d], {.dtype = kInt64, .device = idx.device()}).reshape(pos_shape);
    return {where(eq(positions, ik), gk, Scalar(0)).expand(sizes)};
  };
  set_history(values, n);
  return out;
}

Tensor record_amax(Tensor out, const Tensor& t, const Shape& dims, bool is_max) {
  if (!needs_grad(t)) return out;
  auto n = formula_node(is_max ? "AmaxBackward0" : "AminBackward0", {&t});
  std::size_t st = n->save(t);
  set_history(out, n);
  std::size_t sr = n->save(out, true);
  n->formula = [st, sr, dims](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor self = n.saved(st);
    Tensor mask = eq(self, unsqueeze_reduced(n.saved(sr), self.sizes(), dims));
    Shape keep_dims = dims.empty() ? all_dims(self.dim()) : dims;
    return {mul(div(unsqueeze_reduced(g[0], self.sizes(), dims), mask.sum(keep_dims, true)), mask)};
  };
  return out;
}

Tensor record_dot(Tensor out, const Tensor& a, const Tensor& b, bool conjugate_first) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node(conjugate_first ? "VdotBackward0" : "DotBackward0", {&a, &b});
  std::size_t sa = n->wants(1) ? n->save(a) : 0, sb = n->wants(0) ? n->save(b) : 0;
  n->formula = [sa, sb, conjugate_first](FormulaNode& n, const tensor_list& g) -> tensor_list {
    if (conjugate_first)
      return {n.wants(0) ? mul(conj(g[0]), n.saved(sb)) : kNone, n.wants(1) ? mul(g[0], n.saved(sa)) : kNone};
    return {n.wants(0) ? mul(g[0], conj(n.saved(sb))) : kNone,
            n.wants(1) ? mul(g[0], conj(n.saved(sa))) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_matmul(Tensor out, const Tensor& a, const Tensor& b) {
  if (a.dim() == 1 && b.dim() == 1) return record_dot(std::move(out), a, b, false);
  if (!needs_grad(a, b)) return out;
  const char* name = a.dim() == 2 && b.dim() == 2   ? "MmBackward0"
                     : a.dim() == 2 && b.dim() == 1 ? "MvBackward0"
                     : a.dim() == 1 && b.dim() == 2 ? "SqueezeBackward4"
                                                    : "UnsafeViewBackward0";
  auto n = formula_node(name, {&a, &b});
  std::size_t sa = n->wants(1) ? n->save(a) : 0, sb = n->wants(0) ? n->save(b) : 0;
  // As PyTorch's mm_mat1/mat2_backward: the gradient of a column-major
  // matrix (a transposed view, such as Linear's weight.t()) is computed
  // column-major too, so TBackward turns it back into a contiguous tensor.
  auto column_major = [](const Tensor& t) {
    return t.dim() == 2 && !t.is_contiguous() && t.stride(0) == 1 && t.stride(1) == t.size(0);
  };
  bool a_cols = column_major(a) && b.dim() == 2, b_cols = column_major(b) && a.dim() == 2;
  n->formula = [sa, sb, a_sizes = a.sizes(), b_sizes = b.sizes(), a_cols, b_cols](
                   FormulaNode& n, const tensor_list& g) -> tensor_list {
    // 1-D operands take part as a row (left) or a column (right) matrix.
    bool a_vec = a_sizes.size() == 1, b_vec = b_sizes.size() == 1;
    Tensor g2 = a_vec ? g[0].unsqueeze(-2) : (b_vec ? g[0].unsqueeze(-1) : g[0]);
    Tensor ga, gb;
    if (n.wants(0)) {
      Tensor y = n.saved(sb);
      Tensor y2 = b_vec ? y.unsqueeze(-1) : y;
      Shape a2 = a_sizes;
      if (a_vec) a2.insert(a2.begin(), 1);
      ga = a_cols ? matmul(conj(y), g2.t()).t()
                  : sum_to_size(matmul(g2, conj(y2.transpose(-1, -2))), a2).reshape(a_sizes);
    }
    if (n.wants(1)) {
      Tensor x = n.saved(sa);
      Tensor x2 = a_vec ? x.unsqueeze(0) : x;
      Shape b2 = b_sizes;
      if (b_vec) b2.push_back(1);
      gb = b_cols ? matmul(g2.t(), conj(x)).t()
                  : sum_to_size(matmul(conj(x2.transpose(-1, -2)), g2), b2).reshape(b_sizes);
    }
    return {ga, gb};
  };
  return finish(std::move(out), n);
}

}  // namespace descent::autograd
