// The public tensor API, free functions (torch.*): each op computes its result
// with descent::native and hands it to autograd::record_* (autograd/), which
// attaches the backward node when gradients are required.
#include "descent/tensor/ops.h"

#include <limits>

#include "autograd/functions/functions.h"
#include "autograd/record.h"
#include "tensor/native.h"

namespace descent {

using native::Arg;

// ---- elementwise, free functions ----
namespace {
template <class... Inputs>
void forbid_sparse_grad(const char* op, const Inputs&... inputs) {
  if (autograd::needs_grad(inputs...))
    raise<NotImplementedError>(
        op,
        ": gradients through sparse tensors are not supported (the dense operand or the "
        "sparse one requires grad)");
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (b.is_sparse() && !a.is_sparse()) {
    forbid_sparse_grad("add", a, b);
    return native::sparse_add_to_dense(native::clone(a), b, alpha);
  }
  if (a.is_sparse()) {
    if (!b.is_sparse()) raise<RuntimeError>("add(sparse, dense) is not supported. Use add(dense, sparse) instead.");
    forbid_sparse_grad("add", a, b);
    return native::sparse_add(a, b, alpha);
  }
  return autograd::record_add(native::add(a, b, alpha), a, b, alpha);
}
Tensor add(const Tensor& a, const Scalar& b, const Scalar& alpha) {
  return autograd::record_add(native::add(a, b, alpha), a, Tensor(), alpha);
}
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  return autograd::record_sub(native::sub(a, b, alpha), a, b, alpha);
}
Tensor sub(const Tensor& a, const Scalar& b, const Scalar& alpha) {
  return autograd::record_sub(native::sub(a, b, alpha), a, Tensor(), alpha);
}
Tensor mul(const Tensor& a, const Tensor& b) { return autograd::record_mul(native::mul(a, b), a, b); }
Tensor mul(const Tensor& a, const Scalar& b) {
  if (a.is_sparse()) {
    forbid_sparse_grad("mul", a);
    return native::sparse_mul(a, b);
  }
  return autograd::record_mul(native::mul(a, b), a, b);
}
Tensor div(const Tensor& a, const Tensor& b) { return autograd::record_div(native::div(a, b), a, b); }
Tensor div(const Tensor& a, const Scalar& b) {
  if (a.is_sparse()) {
    forbid_sparse_grad("div", a);
    return native::sparse_div(a, b);
  }
  return autograd::record_div(native::div(a, b), a, b);
}
Tensor pow(const Tensor& a, const Tensor& e) { return autograd::record_pow(native::pow(a, e), a, e); }
Tensor pow(const Tensor& a, const Scalar& e) {
  if (a.is_sparse()) {
    forbid_sparse_grad("pow", a);
    return native::sparse_pow(a, e);
  }
  return autograd::record_pow(native::pow(a, e), a, e);
}
Tensor pow(const Scalar& base, const Tensor& e) {
  return autograd::record_pow(native::pow(base, e), base, e);
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return autograd::record_maximum(native::maximum(a, b), a, b);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return autograd::record_minimum(native::minimum(a, b), a, b);
}
Tensor atan2(const Tensor& a, const Tensor& b) { return autograd::record_atan2(native::atan2(a, b), a, b); }
Tensor clamp(const Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max) {
  Tensor out = native::clamp(t, min ? std::optional<Arg>(Arg(*min)) : std::nullopt,
                             max ? std::optional<Arg>(Arg(*max)) : std::nullopt);
  return autograd::record_clamp(std::move(out), t, min, max);
}
Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) {
  return autograd::record_where(native::where(c, a, b), c, a, b);
}
Tensor where(const Tensor& c, const Tensor& a, const Scalar& b) {
  return autograd::record_where(native::where(c, a, b), c, a, Tensor());
}
Tensor where(const Tensor& c, const Scalar& a, const Tensor& b) {
  return autograd::record_where(native::where(c, a, b), c, Tensor(), b);
}
Tensor lerp(const Tensor& s, const Tensor& e, const Scalar& w) {
  return autograd::record_lerp(native::lerp(s, e, w), s, e, w);
}
Tensor lerp(const Tensor& s, const Tensor& e, const Tensor& w) {
  return autograd::record_lerp(native::lerp(s, e, w), s, e, w);
}
Tensor addcmul(const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& v) {
  return autograd::record_addcmul(native::addcmul(t, t1, t2, v), t, t1, t2, v);
}
Tensor addcdiv(const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& v) {
  return autograd::record_addcdiv(native::addcdiv(t, t1, t2, v), t, t1, t2, v);
}
Tensor neg(const Tensor& t) {
  if (t.is_sparse()) {
    forbid_sparse_grad("neg", t);
    return native::sparse_neg(t);
  }
  return autograd::record_unary(native::unary_same("neg", UnaryOp::Neg, t), UnaryOp::Neg, t);
}
Tensor abs(const Tensor& t) { return autograd::record_unary(native::abs(t), UnaryOp::Abs, t); }
Tensor sign(const Tensor& t) {
  if (t.dtype() == kBool) return native::clone(t);
  return autograd::record_unary(native::unary_same("sign", UnaryOp::Sign, t), UnaryOp::Sign, t);
}

namespace {
Tensor floating_unary(const char* name, UnaryOp op, const Tensor& t) {
  return autograd::record_unary(native::unary_float(name, op, t), op, t);
}
}  // namespace

Tensor sqrt(const Tensor& t) {
  if (t.is_sparse()) {
    forbid_sparse_grad("sqrt", t);
    return native::sparse_sqrt(t);
  }
  return floating_unary("sqrt", UnaryOp::Sqrt, t);
}
Tensor rsqrt(const Tensor& t) { return floating_unary("rsqrt", UnaryOp::Rsqrt, t); }
Tensor exp(const Tensor& t) { return floating_unary("exp", UnaryOp::Exp, t); }
Tensor log(const Tensor& t) { return floating_unary("log", UnaryOp::Log, t); }
Tensor log1p(const Tensor& t) { return floating_unary("log1p", UnaryOp::Log1p, t); }
Tensor reciprocal(const Tensor& t) { return floating_unary("reciprocal", UnaryOp::Reciprocal, t); }
// torch.square is pow(t, 2) (PowBackward0); x * x gives the same values.
Tensor square(const Tensor& t) {
  if (t.is_sparse()) {
    forbid_sparse_grad("square", t);
    return native::sparse_square(t);
  }
  return autograd::record_pow(native::mul(t, t), t, Scalar(2));
}
Tensor sigmoid(const Tensor& t) { return floating_unary("sigmoid", UnaryOp::Sigmoid, t); }
Tensor tanh(const Tensor& t) { return floating_unary("tanh", UnaryOp::Tanh, t); }
Tensor sin(const Tensor& t) { return floating_unary("sin", UnaryOp::Sin, t); }
Tensor cos(const Tensor& t) { return floating_unary("cos", UnaryOp::Cos, t); }
Tensor relu(const Tensor& t) {
  if (t.dtype() == kBool) raise<TypeError>("relu: not implemented for bool tensors");
  return autograd::record_unary(native::unary_same("relu", UnaryOp::Relu, t), UnaryOp::Relu, t);
}
Tensor softplus(const Tensor& t, double beta, double threshold) {
  return autograd::record_softplus(native::softplus(t, beta, threshold), t, beta, threshold);
}
Tensor conj(const Tensor& t) {
  if (!t.is_complex()) return t;
  return autograd::record_unary(native::unary_same("conj", UnaryOp::Conj, t), UnaryOp::Conj, t);
}
Tensor real(const Tensor& t) { return t.is_complex() ? autograd::record_real(native::real(t), t) : t; }
Tensor imag(const Tensor& t) { return autograd::record_imag(native::imag(t), t); }
Tensor angle(const Tensor& t) { return autograd::record_angle(native::angle(t), t); }
Tensor isfinite(const Tensor& t) { return native::predicate("isfinite", UnaryOp::IsFinite, t); }
Tensor isnan(const Tensor& t) { return native::predicate("isnan", UnaryOp::IsNan, t); }
Tensor isinf(const Tensor& t) { return native::predicate("isinf", UnaryOp::IsInf, t); }
Tensor logical_not(const Tensor& t) { return native::predicate("logical_not", UnaryOp::LogicalNot, t); }
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return native::logical(BinaryOp::LogicalAnd, "logical_and", a, b);
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return native::logical(BinaryOp::LogicalOr, "logical_or", a, b);
}
Tensor eq(const Tensor& a, const Tensor& b) { return native::compare(BinaryOp::Eq, "eq", a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return native::compare(BinaryOp::Ne, "ne", a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return native::compare(BinaryOp::Lt, "lt", a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return native::compare(BinaryOp::Le, "le", a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return native::compare(BinaryOp::Gt, "gt", a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return native::compare(BinaryOp::Ge, "ge", a, b); }
Tensor view_as_real(const Tensor& t) { return autograd::record_view_as_real(native::view_as_real(t), t); }
Tensor view_as_complex(const Tensor& t) {
  return autograd::record_view_as_complex(native::view_as_complex(t), t);
}
Tensor complex(const Tensor& re, const Tensor& im) {
  if (re.dtype() != im.dtype() || (re.dtype() != kFloat32 && re.dtype() != kFloat64))
    raise<TypeError>("complex: expected both inputs to be float32 or float64 tensors of the same dtype, got ",
                     to_string(re.dtype()), " and ", to_string(im.dtype()));
  return autograd::record_complex(native::view_as_complex(native::stack({re, im}, -1)), re, im);
}

// ---- reductions ----
Tensor sum(const Tensor& t, std::optional<Dtype> dtype) {
  return autograd::record_sum(native::reduce("sum", ReduceOp::Sum, t, {}, false, dtype), t, {});
}
Tensor sum(const Tensor& t, const Shape& dims, bool keepdim, std::optional<Dtype> dtype) {
  return autograd::record_sum(native::reduce("sum", ReduceOp::Sum, t, dims, keepdim, dtype), t, dims);
}
Tensor mean(const Tensor& t, std::optional<Dtype> dtype) {
  return autograd::record_mean(native::reduce("mean", ReduceOp::Mean, t, {}, false, dtype), t, {});
}
Tensor mean(const Tensor& t, const Shape& dims, bool keepdim, std::optional<Dtype> dtype) {
  return autograd::record_mean(native::reduce("mean", ReduceOp::Mean, t, dims, keepdim, dtype), t, dims);
}

namespace {
Tensor norm_impl(const Tensor& t, double p, const Shape& dims, bool keepdim) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  Tensor out;
  if (p == 2.0) {
    out = native::reduce("norm", ReduceOp::NormP2, t, dims, keepdim, std::nullopt);
  } else if (p == inf) {
    out = native::reduce("norm", ReduceOp::NormInf, t, dims, keepdim, std::nullopt);
  } else if (p == -inf) {
    out = native::reduce("norm", ReduceOp::Min, native::abs(t), dims, keepdim, std::nullopt);
  } else if (p == 0.0) {
    Tensor nz = native::compare(BinaryOp::Ne, "norm", t, Scalar(0));
    out = native::reduce("norm", ReduceOp::Sum, nz, dims, keepdim, to_real_dtype(t.dtype()));
  } else if (p < 0) {
    raise<ValueError>("norm: p must be positive, 0, inf or -inf (got ", format_double(p), ")");
  } else {
    out = native::reduce("norm", ReduceOp::NormP, t, dims, keepdim, std::nullopt, p);
  }
  return autograd::record_norm(std::move(out), t, p, dims);
}
}  // namespace

Tensor norm(const Tensor& t, double p) { return norm_impl(t, p, {}, false); }
Tensor norm(const Tensor& t, double p, const Shape& dims, bool keepdim) {
  return norm_impl(t, p, dims, keepdim);
}
Tensor dot(const Tensor& a, const Tensor& b) {
  return autograd::record_dot(native::dot(a, b, false), a, b, false);
}
Tensor vdot(const Tensor& a, const Tensor& b) {
  return autograd::record_dot(native::dot(a, b, true), a, b, true);
}
Tensor matmul(const Tensor& a, const Tensor& b) {
  return autograd::record_matmul(native::matmul(a, b), a, b);
}
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  return autograd::record_cat(native::cat(tensors, dim), tensors, dim);
}
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  return autograd::record_stack(native::stack(tensors, dim), tensors, dim);
}

bool equal(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  return native::reduce("equal", ReduceOp::All,
                        native::compare(BinaryOp::Eq, "equal", a.to_dense(), b.to_dense()), {}, false,
                        std::nullopt)
      .item<bool>();
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  // |a - b| <= atol + rtol * |b|, with matching infinities and optional NaN equality.
  Dtype dt = result_type(a, b);
  Tensor x = a.to(dt), y = b.to(dt);
  Tensor close = native::compare(BinaryOp::Le, "allclose", native::abs(native::sub(x, y, 1)),
                                 native::add(native::mul(native::abs(y), Scalar(rtol)), Scalar(atol), 1));
  close = native::logical(BinaryOp::LogicalOr, "allclose", close,
                          native::compare(BinaryOp::Eq, "allclose", x, y));
  if (equal_nan)
    close = native::logical(BinaryOp::LogicalOr, "allclose", close,
                            native::logical(BinaryOp::LogicalAnd, "allclose", isnan(x), isnan(y)));
  return native::reduce("allclose", ReduceOp::All, close, {}, false, std::nullopt).item<bool>();
}

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, const Scalar& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Scalar& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Scalar& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Scalar& b) { return div(a, b); }
Tensor operator+(const Scalar& a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Scalar& a, const Tensor& b) { return autograd::record_rsub(native::rsub(b, a), b); }
Tensor operator*(const Scalar& a, const Tensor& b) { return mul(b, a); }
// Python's number / tensor is tensor.reciprocal() * number (two roundings), not one division.
Tensor operator/(const Scalar& a, const Tensor& b) { return mul(reciprocal(b), a); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }
Tensor& operator+=(Tensor& a, const Scalar& b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Scalar& b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Scalar& b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Scalar& b) { return a.div_(b); }

}  // namespace descent
