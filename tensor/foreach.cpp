// The foreach ops run their op tensor by tensor on the tensor's own backend;
// list lengths are checked once, up front, so a mismatch changes nothing.
#include "descent/tensor/foreach.h"

#include "descent/tensor/ops.h"

namespace descent {

namespace {
void check_lengths(const char* op, std::size_t a, std::size_t b) {
  if (a != b)
    raise<ValueError>(op, ": tensor lists must have the same number of tensors, got ", a, " and ", b);
}
}  // namespace

std::vector<Tensor> _foreach_neg(const TensorList& tensors) {
  std::vector<Tensor> out;
  out.reserve(tensors.size());
  for (const Tensor& t : tensors) out.push_back(neg(t));
  return out;
}

std::vector<Tensor> _foreach_sqrt(const TensorList& tensors) {
  std::vector<Tensor> out;
  out.reserve(tensors.size());
  for (const Tensor& t : tensors) out.push_back(sqrt(t));
  return out;
}

std::vector<Tensor> _foreach_add(const TensorList& a, const TensorList& b, const Scalar& alpha) {
  check_lengths("_foreach_add", a.size(), b.size());
  std::vector<Tensor> out;
  out.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) out.push_back(add(a[i], b[i], alpha));
  return out;
}

void _foreach_add_(TensorList& tensors, const Scalar& scalar) {
  for (Tensor& t : tensors) t.add_(scalar);
}

void _foreach_add_(TensorList& a, const TensorList& b, const Scalar& alpha) {
  check_lengths("_foreach_add_", a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i].add_(b[i], alpha);
}

std::vector<Tensor> _foreach_mul(const TensorList& a, const TensorList& b) {
  check_lengths("_foreach_mul", a.size(), b.size());
  std::vector<Tensor> out;
  out.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) out.push_back(mul(a[i], b[i]));
  return out;
}

void _foreach_mul_(TensorList& tensors, const Scalar& scalar) {
  for (Tensor& t : tensors) t.mul_(scalar);
}

void _foreach_mul_(TensorList& tensors, const std::vector<Scalar>& scalars) {
  check_lengths("_foreach_mul_", tensors.size(), scalars.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].mul_(scalars[i]);
}

void _foreach_mul_(TensorList& a, const TensorList& b) {
  check_lengths("_foreach_mul_", a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i].mul_(b[i]);
}

void _foreach_div_(TensorList& tensors, const std::vector<Scalar>& scalars) {
  check_lengths("_foreach_div_", tensors.size(), scalars.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].div_(scalars[i]);
}

void _foreach_div_(TensorList& a, const TensorList& b) {
  check_lengths("_foreach_div_", a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i].div_(b[i]);
}

void _foreach_lerp_(TensorList& a, const TensorList& b, const Scalar& weight) {
  check_lengths("_foreach_lerp_", a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i].lerp_(b[i], weight);
}

void _foreach_lerp_(TensorList& a, const TensorList& b, const std::vector<Scalar>& weights) {
  check_lengths("_foreach_lerp_", a.size(), b.size());
  check_lengths("_foreach_lerp_", a.size(), weights.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i].lerp_(b[i], weights[i]);
}

void _foreach_clamp_min_(TensorList& tensors, const Scalar& min) {
  for (Tensor& t : tensors) t.clamp_min_(min);
}

void _foreach_rsqrt_(TensorList& tensors) {
  for (Tensor& t : tensors) t.rsqrt_();
}

void _foreach_addcmul_(TensorList& a, const TensorList& b, const TensorList& c, const Scalar& value) {
  check_lengths("_foreach_addcmul_", a.size(), b.size());
  check_lengths("_foreach_addcmul_", a.size(), c.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i].addcmul_(b[i], c[i], value);
}

void _foreach_addcdiv_(TensorList& a, const TensorList& b, const TensorList& c, const std::vector<Scalar>& values) {
  check_lengths("_foreach_addcdiv_", a.size(), b.size());
  check_lengths("_foreach_addcdiv_", a.size(), c.size());
  check_lengths("_foreach_addcdiv_", a.size(), values.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i].addcdiv_(b[i], c[i], values[i]);
}

void _foreach_maximum_(TensorList& a, const TensorList& b) {
  check_lengths("_foreach_maximum_", a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i].copy_(maximum(a[i], b[i]));
}

void _foreach_zero_(TensorList& tensors) {
  for (Tensor& t : tensors) t.zero_();
}

}  // namespace descent
