// Backward of erf: d/dx erf(x) = 2 / sqrt(pi) * exp(-x^2).
#include <cmath>
#include <numbers>

#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"

namespace descent::autograd {

Tensor record_erf(Tensor out, const Tensor& t) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("ErfBackward0", {&t});
  std::size_t st = n->save(t);
  n->formula = [st](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor x = n.saved(st);
    return {mul(mul(exp(neg(mul(x, x))), Scalar(2.0 / std::sqrt(std::numbers::pi))), g[0])};
  };
  return finish(std::move(out), n);
}

}  // namespace descent::autograd
