// Backward formulas of the complex-number ops. For a real loss L of z = x + iy
// the gradient PyTorch propagates is dL/dx + i dL/dy.
#include <algorithm>

#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"

namespace descent::autograd {

namespace {
const Scalar kI = Scalar(std::complex<double>(0.0, 1.0));
}  // namespace

Tensor record_real(Tensor out, const Tensor& t) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("RealBackward0", {&t});
  // The engine turns the real gradient into a complex one with zero imaginary part.
  n->formula = [](FormulaNode&, const tensor_list& g) -> tensor_list { return {g[0]}; };
  return finish(std::move(out), n);
}

Tensor record_imag(Tensor out, const Tensor& t) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("ImagBackward0", {&t});
  n->formula = [](FormulaNode&, const tensor_list& g) -> tensor_list { return {mul(g[0], kI)}; };
  return finish(std::move(out), n);
}

Tensor record_angle(Tensor out, const Tensor& t) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("AngleBackward0", {&t});
  std::size_t st = n->save(t);
  n->formula = [st](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor self = n.saved(st);
    if (!self.is_complex()) return {zeros_like(self)};
    Tensor a = abs(self);
    return {where(self.eq(Scalar(0)), Scalar(0), mul(div(mul(g[0], self), pow(a, Scalar(2))), kI))};
  };
  return finish(std::move(out), n);
}

Tensor record_view_as_real(Tensor out, const Tensor& t) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  auto n = formula_node("ViewAsRealBackward0", {&t});
  n->formula = [](FormulaNode&, const tensor_list& g) -> tensor_list {
    // view_as_complex needs an even element offset and even strides; a gradient view may not have them.
    const Shape strides = g[0].strides();
    bool pairs = g[0].storage_offset() % 2 == 0 && strides.back() == 1 &&
                 std::all_of(strides.begin(), strides.end() - 1, [](int64_t s) { return s % 2 == 0; });
    Tensor even = pairs ? g[0] : g[0].clone();
    return {view_as_complex(even)};
  };
  return finish(std::move(out), n);
}

Tensor record_view_as_complex(Tensor out, const Tensor& t) {
  out = track_view(std::move(out), t);
  if (!needs_grad(t)) return out;
  auto n = formula_node("ViewAsComplexBackward0", {&t});
  n->formula = [](FormulaNode&, const tensor_list& g) -> tensor_list { return {view_as_real(g[0])}; };
  return finish(std::move(out), n);
}

Tensor record_complex(Tensor out, const Tensor& re, const Tensor& im) {
  if (!needs_grad(re, im)) return out;
  auto n = formula_node("ComplexBackward0", {&re, &im});
  n->formula = [](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {n.wants(0) ? real(g[0]) : Tensor(), n.wants(1) ? imag(g[0]) : Tensor()};
  };
  return finish(std::move(out), n);
}

}  // namespace descent::autograd
