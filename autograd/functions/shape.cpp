// Backward formulas of views, layout copies, cat and stack.
#include <numeric>

#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"
#include "tensor/native.h"

namespace descent::autograd {

Tensor narrow_scatter(const Tensor& grad, const Shape& sizes, int64_t dim, int64_t start) {
  int64_t length = grad.sizes()[dim];
  std::vector<Tensor> parts;
  if (start > 0) {
    Shape before = sizes;
    before[dim] = start;
    parts.push_back(zeros(before, {.dtype = grad.dtype(), .device = grad.device()}));
  }
  parts.push_back(grad);
  if (int64_t rest = sizes[dim] - start - length; rest > 0) {
    Shape after = sizes;
    after[dim] = rest;
    parts.push_back(zeros(after, {.dtype = grad.dtype(), .device = grad.device()}));
  }
  return parts.size() == 1 ? grad : cat(parts, dim);
}

Tensor record_view(Tensor out, const Tensor& t, const char* name) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  auto n = formula_node(name, {&t});
  n->formula = [sizes = t.sizes()](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {g[0].reshape(sizes)};
  };
  return finish(std::move(out), n);
}

Tensor record_narrow(Tensor out, const Tensor& t, int64_t dim, int64_t start) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  int64_t d = native::wrap_dim(dim, t.dim(), "narrow");
  if (start < 0) start += t.sizes()[d];
  auto n = formula_node("SliceBackward0", {&t});
  n->formula = [sizes = t.sizes(), d, start](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {narrow_scatter(g[0], sizes, d, start)};
  };
  return finish(std::move(out), n);
}

Tensor record_select(Tensor out, const Tensor& t, int64_t dim, int64_t index) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  int64_t d = native::wrap_dim(dim, t.dim(), "select");
  if (index < 0) index += t.sizes()[d];
  auto n = formula_node("SelectBackward0", {&t});
  n->formula = [sizes = t.sizes(), d, index](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {narrow_scatter(g[0].unsqueeze(d), sizes, d, index)};
  };
  return finish(std::move(out), n);
}

Tensor record_permute(Tensor out, const Tensor& t, const Shape& dims) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  Shape inverse(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i)
    inverse[native::wrap_dim(dims[i], t.dim(), "permute")] = static_cast<int64_t>(i);
  auto n = formula_node("PermuteBackward0", {&t});
  n->formula = [inverse](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {g[0].permute(inverse)};
  };
  return finish(std::move(out), n);
}

Tensor record_transpose(Tensor out, const Tensor& t, int64_t dim0, int64_t dim1) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  auto n = formula_node("TransposeBackward0", {&t});
  n->formula = [dim0, dim1](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {g[0].transpose(dim0, dim1)};
  };
  return finish(std::move(out), n);
}

Tensor record_t(Tensor out, const Tensor& t) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  auto n = formula_node("TBackward0", {&t});
  n->formula = [](FormulaNode&, const tensor_list& g) -> tensor_list { return {g[0].t()}; };
  return finish(std::move(out), n);
}

Tensor record_expand(Tensor out, const Tensor& t) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  auto n = formula_node("ExpandBackward0", {&t});
  n->formula = [sizes = t.sizes()](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {sum_to_size(g[0], sizes)};
  };
  return finish(std::move(out), n);
}

Tensor record_cat(Tensor out, const std::vector<Tensor>& tensors, int64_t dim) {
  if (!needs_grad(tensors)) return out;
  // Legacy rule of cat: 1-D empty tensors take no part.
  std::vector<Shape> sizes;
  int64_t ndim = -1;
  for (const Tensor& t : tensors) {
    sizes.push_back(t.sizes());
    if (ndim < 0 && !(t.dim() == 1 && t.numel() == 0)) ndim = t.dim();
  }
  int64_t d = ndim < 0 ? 0 : native::wrap_dim(dim, ndim, "cat");
  auto n = make_node<FormulaNode>({}, "CatBackward0");
  n->set_next_edges(collect_next_edges(tensors));
  n->formula = [sizes, d](FormulaNode& n, const tensor_list& g) -> tensor_list {
    tensor_list grads;
    int64_t offset = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const Shape& s = sizes[i];
      if (s.size() == 1 && s[0] == 0) {
        grads.push_back(n.wants(i) ? zeros(s, {.dtype = g[0].dtype(), .device = g[0].device()}) : Tensor());
        continue;
      }
      grads.push_back(n.wants(i) ? g[0].narrow(d, offset, s[d]) : Tensor());
      offset += s[d];
    }
    return grads;
  };
  return finish(std::move(out), n);
}

Tensor record_stack(Tensor out, const std::vector<Tensor>& tensors, int64_t dim) {
  if (!needs_grad(tensors)) return out;
  int64_t d = native::wrap_dim(dim, tensors[0].dim() + 1, "stack");
  auto n = make_node<FormulaNode>({}, "StackBackward0");
  n->set_next_edges(collect_next_edges(tensors));
  n->formula = [count = tensors.size(), d](FormulaNode& n, const tensor_list& g) -> tensor_list {
    tensor_list grads;
    for (std::size_t i = 0; i < count; ++i)
      grads.push_back(n.wants(i) ? g[0].select(d, static_cast<int64_t>(i)) : Tensor());
    return grads;
  };
  return finish(std::move(out), n);
}

}  // namespace descent::autograd
