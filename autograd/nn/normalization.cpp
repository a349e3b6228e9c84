// nn::functional::layer_norm and nn::LayerNorm: compositions of
// differentiable ops, so every order of gradient follows.
#include "descent/autograd/nn/normalization.h"

#include "descent/autograd/grad_mode.h"
#include "descent/autograd/nn/functional.h"
#include "descent/tensor/ops.h"

namespace descent::nn {

namespace {
void check_affine(const char* what, const Tensor& t, const Shape& normalized_shape) {
  if (t.defined() && t.sizes() != normalized_shape)
    raise<ShapeError>("layer_norm: expected ", what, " of the same shape as normalized_shape ",
                      shape_to_string(normalized_shape), ", but got ", what, " of shape ",
                      shape_to_string(t.sizes()));
}
}  // namespace

Tensor functional::layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                              const Tensor& bias, double eps) {
  const auto k = static_cast<int64_t>(normalized_shape.size());
  if (k == 0)
    raise<ShapeError>("layer_norm: normalized_shape must have at least one element, but got []");
  if (!input.is_floating_point())
    raise<TypeError>("layer_norm: expected a floating point input, but got ", to_string(input.dtype()));
  const Shape& s = input.sizes();
  if (input.dim() < k || !std::equal(normalized_shape.begin(), normalized_shape.end(), s.end() - k))
    raise<ShapeError>("layer_norm: given normalized_shape=", shape_to_string(normalized_shape),
                      ", expected an input of shape [*, ", shape_to_string(normalized_shape).substr(1),
                      " but got an input of shape ", shape_to_string(s));
  check_affine("weight", weight, normalized_shape);
  check_affine("bias", bias, normalized_shape);
  Shape dims;
  for (int64_t d = input.dim() - k; d < input.dim(); ++d) dims.push_back(d);
  Tensor centered = sub(input, mean(input, dims, true));
  Tensor var = mean(mul(centered, centered), dims, true);
  Tensor out = mul(centered, rsqrt(add(var, Scalar(eps))));
  if (weight.defined()) out = mul(out, weight);
  if (bias.defined()) out = add(out, bias);
  return out;
}

LayerNorm::LayerNorm(Shape shape, LayerNormOptions options)
    : normalized_shape(std::move(shape)),
      eps(options.eps),
      elementwise_affine(options.elementwise_affine),
      options_(options) {
  for (int64_t n : normalized_shape)
    if (n < 0)
      raise<ValueError>("LayerNorm: normalized_shape must be non-negative, but got ",
                        shape_to_string(normalized_shape));
  reset();
  reset_parameters();
}

void LayerNorm::reset() {
  if (!elementwise_affine) return;
  TensorOptions o{.dtype = options_.dtype, .device = options_.device};
  weight = register_parameter("weight", empty(normalized_shape, o));
  if (options_.bias) bias = register_parameter("bias", empty(normalized_shape, o));
}

void LayerNorm::reset_parameters() {
  if (!elementwise_affine) return;
  autograd::NoGradGuard no_grad;
  weight.fill_(1);
  if (bias.defined()) bias.zero_();
}

Tensor LayerNorm::forward(const Tensor& input) {
  return functional::layer_norm(input, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  std::string shape = "(";
  for (std::size_t i = 0; i < normalized_shape.size(); ++i)
    shape += (i ? ", " : "") + std::to_string(normalized_shape[i]);
  if (normalized_shape.size() == 1) shape += ",";
  return shape + "), eps=" + format_double(eps) + ", elementwise_affine=" + (elementwise_affine ? "True" : "False");
}

}  // namespace descent::nn
