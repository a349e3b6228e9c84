// nn::functional::dropout and nn::Dropout.
#include "descent/autograd/nn/dropout.h"

#include "descent/autograd/nn/functional.h"
#include "descent/tensor/ops.h"

namespace descent::nn {

namespace {
void check_probability(double p) {
  if (!(p >= 0.0 && p <= 1.0))
    raise<ValueError>("dropout probability has to be between 0 and 1, but got ", format_double(p));
}
}  // namespace

Tensor functional::dropout(const Tensor& input, double p, bool training, Generator* generator) {
  check_probability(p);
  if (!training || p == 0.0) return input;
  if (!input.is_floating_point() && !input.is_complex())
    raise<TypeError>("dropout: expected a floating point or complex input, but got ", to_string(input.dtype()));
  // p = 1 multiplies by zero (not a mask scaled by 1/0), as PyTorch does.
  if (p == 1.0) return mul(input, zeros({}, {.dtype = input.dtype(), .device = input.device()}));
  const Dtype noise_dtype = to_real_dtype(input.dtype()) == kFloat64 ? kFloat64 : kFloat32;
  Tensor noise = rand(input.sizes(), {.dtype = noise_dtype, .device = input.device()}, generator);
  // Kept elements are scaled in the input's dtype, as PyTorch's bernoulli_(1 - p).div_(1 - p).
  Tensor mask = div(noise.lt(Scalar(1.0 - p)).to(input.dtype()), Scalar(1.0 - p));
  return mul(input, mask);
}

Dropout::Dropout(double probability, Generator* gen) : p(probability), generator(gen) { check_probability(p); }

Tensor Dropout::forward(const Tensor& input) { return functional::dropout(input, p, is_training(), generator); }

std::string Dropout::extra_repr() const { return "p=" + format_double(p) + ", inplace=False"; }

}  // namespace descent::nn
