// Backward formulas of copies and conversions, and the functional form of
// the overwriting in-place ops (copy_, fill_, zero_).
#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"

namespace descent::autograd {

Tensor record_clone(Tensor out, const Tensor& t) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("CloneBackward0", {&t});
  n->formula = [](FormulaNode&, const tensor_list& g) -> tensor_list { return {g[0]}; };
  return finish(std::move(out), n);
}

Tensor record_to(Tensor out, const Tensor& t) {
  if (out.is_same(t) || !needs_grad(t)) return out;
  auto n = formula_node("ToCopyBackward0", {&t});
  n->formula = [device = t.device(), dtype = t.dtype()](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {g[0].to(device, dtype)};
  };
  return finish(std::move(out), n);
}

Tensor overwrite(const Tensor& old, Tensor value, const char* name, const Tensor& source) {
  if (!needs_grad(old, source)) return value;
  auto n = formula_node(name, {&old, &source});
  n->formula = [](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {n.wants(0) ? zeros_like(g[0]) : Tensor(), n.wants(1) ? g[0] : Tensor()};
  };
  return finish(std::move(value), n);
}

}  // namespace descent::autograd
