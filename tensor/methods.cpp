// Tensor member functions: the method spelling of the free functions. In-place
// methods run the native kernel directly unless autograd must record them;
// then autograd::inplace computes them out of place and writes the result.
#include "autograd/functions/functions.h"
#include "autograd/record.h"
#include "descent/tensor/ops.h"
#include "tensor/native.h"

namespace descent {

using native::Arg;

namespace {
std::optional<Arg> optional_arg(const std::optional<Scalar>& s) {
  return s ? std::optional<Arg>(Arg(*s)) : std::nullopt;
}
std::optional<Arg> optional_arg(const std::optional<Tensor>& t) {
  return t ? std::optional<Arg>(Arg(*t)) : std::nullopt;
}
}  // namespace

Tensor Tensor::to(Dtype d, bool copy) const {
  return autograd::record_to(native::to(*this, device(), d, copy), *this);
}
Tensor Tensor::to(Device dev, bool copy) const {
  return autograd::record_to(native::to(*this, dev, dtype(), copy), *this);
}
Tensor Tensor::to(Device dev, Dtype d, bool copy) const {
  return autograd::record_to(native::to(*this, dev, d, copy), *this);
}
Tensor Tensor::clone() const { return autograd::record_clone(native::clone(*this), *this); }
Tensor Tensor::contiguous() const { return is_sparse() || is_contiguous() ? *this : clone(); }

Tensor& Tensor::copy_(const Tensor& src) {
  if (!autograd::needs_grad(*this, src) || is_sparse()) return native::copy_(*this, src);
  return autograd::inplace(*this, "copy_", [&](const Tensor& old) {
    Tensor value = native::empty(sizes(), dtype(), device());
    native::copy_(value, src);
    return autograd::overwrite(old, value, "CopyBackwards", src);
  });
}
Tensor& Tensor::fill_(const Scalar& value) {
  if (!autograd::needs_grad(*this)) return native::fill_(*this, value);
  return autograd::inplace(*this, "fill_", [&](const Tensor& old) {
    return autograd::overwrite(old, full_like(old, value), "FillBackward2", Tensor());
  });
}
Tensor& Tensor::fill_(const Tensor& value) {
  if (value.numel() != 1)
    raise<ValueError>("fill_: only supports a 0-dimension value tensor, but got a tensor with ", value.dim(),
                      " dimensions");
  if (!autograd::needs_grad(*this, value)) return native::fill_(*this, value.item());
  return autograd::inplace(*this, "fill_", [&](const Tensor& old) {
    return autograd::overwrite(old, full_like(old, value.item()), "FillBackward3", value);
  });
}
Tensor& Tensor::zero_() {
  if (!autograd::needs_grad(*this)) return native::fill_(*this, 0);
  return autograd::inplace(*this, "zero_", [&](const Tensor& old) {
    return autograd::overwrite(old, zeros_like(old), "ZeroBackward0", Tensor());
  });
}

Tensor Tensor::view(const Shape& s) const {
  return autograd::record_view(native::view(*this, s), *this, "ViewBackward0");
}
Tensor Tensor::reshape(const Shape& s) const {
  return autograd::record_view(native::reshape(*this, s), *this, "ViewBackward0");
}
Tensor Tensor::flatten(int64_t a, int64_t b) const {
  return autograd::record_view(native::flatten(*this, a, b), *this, "ViewBackward0");
}
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const {
  return autograd::record_narrow(native::narrow(*this, d, s, l), *this, d, s);
}
Tensor Tensor::select(int64_t d, int64_t i) const {
  return autograd::record_select(native::select(*this, d, i), *this, d, i);
}
Tensor Tensor::unsqueeze(int64_t d) const {
  return autograd::record_view(native::unsqueeze(*this, d), *this, "UnsqueezeBackward0");
}
Tensor Tensor::squeeze() const {
  return autograd::record_view(native::squeeze(*this, std::nullopt), *this, "SqueezeBackward0");
}
Tensor Tensor::squeeze(int64_t d) const {
  return autograd::record_view(native::squeeze(*this, d), *this, "SqueezeBackward1");
}
Tensor Tensor::t() const {
  if (dim() > 2) raise<ShapeError>("t: expects a tensor with <= 2 dimensions, but self is ", dim(), "D");
  return dim() < 2 ? *this : autograd::record_t(native::transpose(*this, 0, 1), *this);
}
Tensor Tensor::transpose(int64_t a, int64_t b) const {
  return autograd::record_transpose(native::transpose(*this, a, b), *this, a, b);
}
Tensor Tensor::permute(const Shape& dims) const {
  return autograd::record_permute(native::permute(*this, dims), *this, dims);
}
Tensor Tensor::expand(const Shape& s) const {
  return autograd::record_expand(native::expand(*this, s), *this);
}

Tensor Tensor::add(const Tensor& o, const Scalar& a) const { return descent::add(*this, o, a); }
Tensor Tensor::add(const Scalar& o, const Scalar& a) const { return descent::add(*this, o, a); }
Tensor& Tensor::add_(const Tensor& o, const Scalar& a) {
  if (o.is_sparse() && !is_sparse()) {
    if (autograd::needs_grad(*this, o))
      raise<NotImplementedError>("add_: gradients through sparse tensors are not supported");
    native::sparse_add_to_dense(*this, o, a);
    return *this;
  }
  if (is_sparse()) {
    if (!o.is_sparse()) raise<RuntimeError>("add(sparse, dense) is not supported. Use add(dense, sparse) instead.");
    if (autograd::needs_grad(*this, o))
      raise<NotImplementedError>("add_: gradients through sparse tensors are not supported");
    return native::sparse_add_(*this, o, a);
  }
  if (!autograd::needs_grad(*this, o)) return native::add_(*this, o, a);
  return autograd::inplace(*this, "add_", [&](const Tensor& old) { return descent::add(old, o, a); });
}
Tensor& Tensor::add_(const Scalar& o, const Scalar& a) {
  if (!autograd::needs_grad(*this)) return native::add_(*this, o, a);
  return autograd::inplace(*this, "add_", [&](const Tensor& old) { return descent::add(old, o, a); });
}
Tensor Tensor::sub(const Tensor& o, const Scalar& a) const { return descent::sub(*this, o, a); }
Tensor Tensor::sub(const Scalar& o, const Scalar& a) const { return descent::sub(*this, o, a); }
Tensor& Tensor::sub_(const Tensor& o, const Scalar& a) {
  if (!autograd::needs_grad(*this, o)) return native::sub_(*this, o, a);
  return autograd::inplace(*this, "sub_", [&](const Tensor& old) { return descent::sub(old, o, a); });
}
Tensor& Tensor::sub_(const Scalar& o, const Scalar& a) {
  if (!autograd::needs_grad(*this)) return native::sub_(*this, o, a);
  return autograd::inplace(*this, "sub_", [&](const Tensor& old) { return descent::sub(old, o, a); });
}
Tensor Tensor::mul(const Tensor& o) const { return descent::mul(*this, o); }
Tensor Tensor::mul(const Scalar& o) const { return descent::mul(*this, o); }
Tensor& Tensor::mul_(const Tensor& o) {
  if (!autograd::needs_grad(*this, o)) return native::mul_(*this, o);
  return autograd::inplace(*this, "mul_", [&](const Tensor& old) { return descent::mul(old, o); });
}
Tensor& Tensor::mul_(const Scalar& o) {
  if (is_sparse()) {
    if (autograd::needs_grad(*this)) raise<NotImplementedError>("mul_: gradients through sparse tensors are not supported");
    return native::sparse_mul_(*this, o);
  }
  if (!autograd::needs_grad(*this)) return native::mul_(*this, o);
  return autograd::inplace(*this, "mul_", [&](const Tensor& old) { return descent::mul(old, o); });
}
Tensor Tensor::div(const Tensor& o) const { return descent::div(*this, o); }
Tensor Tensor::div(const Scalar& o) const { return descent::div(*this, o); }
Tensor& Tensor::div_(const Tensor& o) {
  if (!autograd::needs_grad(*this, o)) return native::div_(*this, o);
  return autograd::inplace(*this, "div_", [&](const Tensor& old) { return descent::div(old, o); });
}
Tensor& Tensor::div_(const Scalar& o) {
  if (is_sparse()) {
    if (autograd::needs_grad(*this)) raise<NotImplementedError>("div_: gradients through sparse tensors are not supported");
    return native::sparse_div_(*this, o);
  }
  if (!autograd::needs_grad(*this)) return native::div_(*this, o);
  return autograd::inplace(*this, "div_", [&](const Tensor& old) { return descent::div(old, o); });
}
Tensor Tensor::pow(const Tensor& e) const { return descent::pow(*this, e); }
Tensor Tensor::pow(const Scalar& e) const { return descent::pow(*this, e); }
Tensor& Tensor::pow_(const Tensor& e) {
  if (!autograd::needs_grad(*this, e)) return native::pow_(*this, e);
  return autograd::inplace(*this, "pow_", [&](const Tensor& old) { return descent::pow(old, e); });
}
Tensor& Tensor::pow_(const Scalar& e) {
  if (!autograd::needs_grad(*this)) return native::pow_(*this, e);
  return autograd::inplace(*this, "pow_", [&](const Tensor& old) { return descent::pow(old, e); });
}
Tensor Tensor::maximum(const Tensor& o) const { return descent::maximum(*this, o); }
Tensor Tensor::minimum(const Tensor& o) const { return descent::minimum(*this, o); }
Tensor Tensor::clamp(std::optional<Scalar> lo, std::optional<Scalar> hi) const {
  return descent::clamp(*this, lo, hi);
}
Tensor Tensor::clamp(const std::optional<Tensor>& lo, const std::optional<Tensor>& hi) const {
  return autograd::record_clamp(native::clamp(*this, optional_arg(lo), optional_arg(hi)), *this, lo, hi);
}
Tensor& Tensor::clamp_(std::optional<Scalar> lo, std::optional<Scalar> hi) {
  if (!autograd::needs_grad(*this)) {
    native::clamp(*this, optional_arg(lo), optional_arg(hi), this);
    return *this;
  }
  return autograd::inplace(*this, "clamp_", [&](const Tensor& old) { return descent::clamp(old, lo, hi); });
}
Tensor& Tensor::clamp_(const std::optional<Tensor>& lo, const std::optional<Tensor>& hi) {
  if (!autograd::needs_grad(*this, lo, hi)) {
    native::clamp(*this, optional_arg(lo), optional_arg(hi), this);
    return *this;
  }
  return autograd::inplace(*this, "clamp_", [&](const Tensor& old) { return old.clamp(lo, hi); });
}
Tensor Tensor::lerp(const Tensor& e, const Scalar& w) const { return descent::lerp(*this, e, w); }
Tensor Tensor::lerp(const Tensor& e, const Tensor& w) const { return descent::lerp(*this, e, w); }
Tensor& Tensor::lerp_(const Tensor& e, const Scalar& w) {
  if (!autograd::needs_grad(*this, e)) {
    native::lerp(*this, e, w, this);
    return *this;
  }
  return autograd::inplace(*this, "lerp_", [&](const Tensor& old) { return descent::lerp(old, e, w); });
}
Tensor& Tensor::lerp_(const Tensor& e, const Tensor& w) {
  if (!autograd::needs_grad(*this, e, w)) {
    native::lerp(*this, e, w, this);
    return *this;
  }
  return autograd::inplace(*this, "lerp_", [&](const Tensor& old) { return descent::lerp(old, e, w); });
}
Tensor Tensor::addcmul(const Tensor& a, const Tensor& b, const Scalar& v) const {
  return descent::addcmul(*this, a, b, v);
}
Tensor& Tensor::addcmul_(const Tensor& a, const Tensor& b, const Scalar& v) {
  if (!autograd::needs_grad(*this, a, b)) {
    native::addcmul(*this, a, b, v, this);
    return *this;
  }
  return autograd::inplace(*this, "addcmul_",
                           [&](const Tensor& old) { return descent::addcmul(old, a, b, v); });
}
Tensor Tensor::addcdiv(const Tensor& a, const Tensor& b, const Scalar& v) const {
  return descent::addcdiv(*this, a, b, v);
}
Tensor& Tensor::addcdiv_(const Tensor& a, const Tensor& b, const Scalar& v) {
  if (!autograd::needs_grad(*this, a, b)) {
    native::addcdiv(*this, a, b, v, this);
    return *this;
  }
  return autograd::inplace(*this, "addcdiv_",
                           [&](const Tensor& old) { return descent::addcdiv(old, a, b, v); });
}

#define DESCENT_UNARY_METHODS(name, inplace_impl)                                                       \
  Tensor Tensor::name() const { return descent::name(*this); }                                          \
  Tensor& Tensor::name##_() {                                                                           \
    if (autograd::needs_grad(*this))                                                                    \
      return autograd::inplace(*this, #name "_", [](const Tensor& old) { return descent::name(old); }); \
    inplace_impl;                                                                                       \
    return *this;                                                                                       \
  }
DESCENT_UNARY_METHODS(neg, native::unary_same("neg_", UnaryOp::Neg, *this, this))
DESCENT_UNARY_METHODS(abs, native::abs(*this, this))
DESCENT_UNARY_METHODS(sign, native::unary_same("sign_", UnaryOp::Sign, *this, this))
DESCENT_UNARY_METHODS(sqrt, native::unary_float("sqrt_", UnaryOp::Sqrt, *this, this))
DESCENT_UNARY_METHODS(rsqrt, native::unary_float("rsqrt_", UnaryOp::Rsqrt, *this, this))
DESCENT_UNARY_METHODS(exp, native::unary_float("exp_", UnaryOp::Exp, *this, this))
DESCENT_UNARY_METHODS(log, native::unary_float("log_", UnaryOp::Log, *this, this))
DESCENT_UNARY_METHODS(reciprocal, native::unary_float("reciprocal_", UnaryOp::Reciprocal, *this, this))
#undef DESCENT_UNARY_METHODS

Tensor Tensor::square() const { return descent::square(*this); }
Tensor Tensor::sigmoid() const { return descent::sigmoid(*this); }
Tensor Tensor::tanh() const { return descent::tanh(*this); }
Tensor Tensor::sin() const { return descent::sin(*this); }
Tensor Tensor::cos() const { return descent::cos(*this); }
Tensor Tensor::relu() const { return descent::relu(*this); }
Tensor Tensor::conj() const { return descent::conj(*this); }
Tensor Tensor::real() const { return descent::real(*this); }
Tensor Tensor::imag() const { return descent::imag(*this); }
Tensor Tensor::isfinite() const { return descent::isfinite(*this); }
Tensor Tensor::isnan() const { return descent::isnan(*this); }
Tensor Tensor::isinf() const { return descent::isinf(*this); }
Tensor Tensor::logical_not() const { return descent::logical_not(*this); }

#define DESCENT_COMPARE_METHODS(name, op)                                        \
  Tensor Tensor::name(const Tensor& o) const { return descent::name(*this, o); } \
  Tensor Tensor::name(const Scalar& o) const { return native::compare(BinaryOp::op, #name, *this, o); }
DESCENT_COMPARE_METHODS(eq, Eq)
DESCENT_COMPARE_METHODS(ne, Ne)
DESCENT_COMPARE_METHODS(lt, Lt)
DESCENT_COMPARE_METHODS(le, Le)
DESCENT_COMPARE_METHODS(gt, Gt)
DESCENT_COMPARE_METHODS(ge, Ge)
#undef DESCENT_COMPARE_METHODS

Tensor Tensor::sum(std::optional<Dtype> d) const { return descent::sum(*this, d); }
Tensor Tensor::sum(const Shape& dims, bool keepdim, std::optional<Dtype> d) const {
  return descent::sum(*this, dims, keepdim, d);
}
Tensor Tensor::mean(std::optional<Dtype> d) const { return descent::mean(*this, d); }
Tensor Tensor::mean(const Shape& dims, bool keepdim, std::optional<Dtype> d) const {
  return descent::mean(*this, dims, keepdim, d);
}
Tensor Tensor::prod(std::optional<Dtype> d) const {
  return autograd::record_prod(native::reduce("prod", ReduceOp::Prod, *this, {}, false, d), *this);
}
Tensor Tensor::max() const {
  return autograd::record_max_all(native::reduce("max", ReduceOp::Max, *this, {}, false, std::nullopt), *this,
                                  true);
}
Tensor Tensor::min() const {
  return autograd::record_max_all(native::reduce("min", ReduceOp::Min, *this, {}, false, std::nullopt), *this,
                                  false);
}
std::tuple<Tensor, Tensor> Tensor::max(int64_t d, bool keepdim) const {
  return autograd::record_max_dim(native::reduce_with_indices("max", ReduceOp::Max, *this, d, keepdim), *this,
                                  d, keepdim, true);
}
std::tuple<Tensor, Tensor> Tensor::min(int64_t d, bool keepdim) const {
  return autograd::record_max_dim(native::reduce_with_indices("min", ReduceOp::Min, *this, d, keepdim), *this,
                                  d, keepdim, false);
}
Tensor Tensor::amax(const Shape& dims, bool keepdim) const {
  return autograd::record_amax(native::reduce("amax", ReduceOp::Max, *this, dims, keepdim, std::nullopt),
                               *this, dims, true);
}
Tensor Tensor::amin(const Shape& dims, bool keepdim) const {
  return autograd::record_amax(native::reduce("amin", ReduceOp::Min, *this, dims, keepdim, std::nullopt),
                               *this, dims, false);
}
Tensor Tensor::norm(double p) const { return descent::norm(*this, p); }
Tensor Tensor::norm(double p, const Shape& dims, bool keepdim) const {
  return descent::norm(*this, p, dims, keepdim);
}
Tensor Tensor::dot(const Tensor& o) const { return descent::dot(*this, o); }
Tensor Tensor::vdot(const Tensor& o) const { return descent::vdot(*this, o); }
Tensor Tensor::all() const { return native::reduce("all", ReduceOp::All, *this, {}, false, std::nullopt); }
Tensor Tensor::any() const { return native::reduce("any", ReduceOp::Any, *this, {}, false, std::nullopt); }
Tensor Tensor::matmul(const Tensor& o) const { return descent::matmul(*this, o); }

}  // namespace descent
