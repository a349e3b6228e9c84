// Backward formulas of the unary elementwise ops. Formulas that only need
// the op's result save the output (as PyTorch does), so in-place writes to
// the input afterwards do not invalidate them.
#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"
#include "tensor/native.h"

namespace descent::autograd {

Tensor sgn(const Tensor& t) {
  if (!t.is_complex()) return sign(t);
  Tensor a = abs(t);
  return where(a.eq(Scalar(0)), Scalar(0), div(t, a));
}

Tensor threshold_backward(const Tensor& grad, const Tensor& input, double threshold) {
  Tensor out = native::threshold_backward(grad, input, threshold);
  if (!needs_grad(grad, input)) return out;
  auto n = formula_node("ThresholdBackwardBackward0", {&grad, &input});
  std::size_t si = n->save(input);
  n->formula = [si, threshold](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor self = n.saved(si);
    return {n.wants(0) ? threshold_backward(g[0], self, threshold) : Tensor(),
            n.wants(1) ? zeros_like(self) : Tensor()};
  };
  return finish(std::move(out), n);
}

namespace {
const char* unary_node_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
      return "NegBackward0";
    case UnaryOp::Abs:
      return "AbsBackward0";
    case UnaryOp::Sign:
      return "SignBackward0";
    case UnaryOp::Sqrt:
      return "SqrtBackward0";
    case UnaryOp::Rsqrt:
      return "RsqrtBackward0";
    case UnaryOp::Exp:
      return "ExpBackward0";
    case UnaryOp::Log:
      return "LogBackward0";
    case UnaryOp::Log1p:
      return "Log1PBackward0";
    case UnaryOp::Reciprocal:
      return "ReciprocalBackward0";
    case UnaryOp::Sigmoid:
      return "SigmoidBackward0";
    case UnaryOp::Tanh:
      return "TanhBackward0";
    case UnaryOp::Relu:
      return "ReluBackward0";
    case UnaryOp::Conj:
      return "ConjBackward0";
    case UnaryOp::Sin:
      return "SinBackward0";
    case UnaryOp::Cos:
      return "CosBackward0";
    default:
      break;
  }
  raise<NotImplementedError>("autograd: no derivative is implemented for unary op ", static_cast<int>(op));
}

bool saves_result(UnaryOp op) {
  switch (op) {
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Exp:
    case UnaryOp::Reciprocal:
    case UnaryOp::Sigmoid:
    case UnaryOp::Tanh:
    case UnaryOp::Relu:
      return true;
    default:
      return false;
  }
}

// d(op)/dx applied to g; x is the input, y the result (whichever the op saved).
Tensor unary_derivative(UnaryOp op, const Tensor& g, const Tensor& x, const Tensor& y) {
  switch (op) {
    case UnaryOp::Neg:
      return neg(g);
    case UnaryOp::Abs:
      return mul(g, sgn(x));
    case UnaryOp::Sign:
      return zeros_like(g);
    case UnaryOp::Sqrt:
      return div(g, mul(conj(y), Scalar(2)));
    case UnaryOp::Rsqrt:
      return mul(mul(g, Scalar(-0.5)), conj(pow(y, Scalar(3))));
    case UnaryOp::Exp:
      return mul(g, conj(y));
    case UnaryOp::Log:
      return div(g, conj(x));
    case UnaryOp::Log1p:
      return div(g, conj(add(x, Scalar(1))));
    case UnaryOp::Reciprocal:
      return mul(neg(g), conj(mul(y, y)));
    case UnaryOp::Sigmoid:
      // PyTorch's sigmoid_backward kernel: g * (1 - y) * y (conjugated for complex).
      if (y.is_complex()) return mul(g, conj(mul(Scalar(1) - y, y)));
      return mul(mul(g, Scalar(1) - y), y);
    case UnaryOp::Tanh:
      if (y.is_complex()) return mul(g, conj(Scalar(1) - mul(y, y)));
      return mul(g, Scalar(1) - mul(y, y));
    case UnaryOp::Relu:
      return threshold_backward(g, y, 0.0);
    case UnaryOp::Conj:
      return conj(g);
    case UnaryOp::Sin:
      return mul(g, conj(cos(x)));
    case UnaryOp::Cos:
      return mul(g, neg(conj(sin(x))));
    default:
      break;
  }
  raise<NotImplementedError>("autograd: no derivative is implemented for unary op ", static_cast<int>(op));
}
}  // namespace

Tensor record_unary(Tensor out, UnaryOp op, const Tensor& t) {
  if (!needs_grad(t)) return out;
  auto n = formula_node(unary_node_name(op), {&t});
  set_history(out, n);
  bool by_result = saves_result(op);
  bool needs_input = op == UnaryOp::Abs || op == UnaryOp::Log || op == UnaryOp::Log1p || op == UnaryOp::Sin ||
                     op == UnaryOp::Cos;
  std::size_t slot = by_result ? n->save(out, true) : (needs_input ? n->save(t) : 0);
  n->formula = [op, slot, by_result, needs_input](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor saved = by_result || needs_input ? n.saved(slot) : Tensor();
    return {unary_derivative(op, g[0], needs_input ? saved : Tensor(), by_result ? saved : Tensor())};
  };
  return out;
}

Tensor record_softplus(Tensor out, const Tensor& t, double beta, double threshold) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("SoftplusBackward0", {&t});
  std::size_t st = n->save(t);
  n->formula = [st, beta, threshold](FormulaNode& n, const tensor_list& g) -> tensor_list {
    // PyTorch's kernel: x * beta > threshold ? g : g * z / (z + 1) with z = exp(x * beta).
    Tensor scaled = mul(n.saved(st), Scalar(beta));
    Tensor z = exp(scaled);
    return {where(scaled.gt(Scalar(threshold)), g[0], div(mul(g[0], z), add(z, Scalar(1))))};
  };
  return finish(std::move(out), n);
}

}  // namespace descent::autograd
