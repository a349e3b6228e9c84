// nn::functional::gelu and nn::GELU, as PyTorch's kernels write them:
//   none: x * 0.5 * (1 + erf(x / sqrt(2)))
//   tanh: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
#include <cmath>
#include <numbers>

#include "descent/autograd/nn/activation.h"
#include "descent/autograd/nn/functional.h"
#include "descent/tensor/ops.h"

namespace descent::nn {

namespace {
void check_approximate(const std::string& approximate) {
  if (approximate != "none" && approximate != "tanh")
    raise<ValueError>("gelu: approximate must be 'none' or 'tanh', but got '", approximate, "'");
}
}  // namespace

Tensor functional::gelu(const Tensor& input, const std::string& approximate) {
  check_approximate(approximate);
  if (!input.is_floating_point())
    raise<TypeError>("gelu: expected a floating point input, but got ", to_string(input.dtype()));
  if (approximate == "none")
    return mul(mul(input, Scalar(0.5)), add(descent::erf(mul(input, Scalar(std::numbers::sqrt2 / 2))), Scalar(1)));
  const double k_beta = std::numbers::sqrt2 * (2 * std::numbers::inv_sqrtpi) * 0.5;  // sqrt(2 / pi)
  Tensor cube = mul(mul(input, input), input);
  Tensor inner = mul(add(input, mul(cube, Scalar(0.044715))), Scalar(k_beta));
  return mul(mul(input, Scalar(0.5)), add(descent::tanh(inner), Scalar(1)));
}

GELU::GELU(std::string approx) : approximate(std::move(approx)) { check_approximate(approximate); }

Tensor GELU::forward(const Tensor& input) { return functional::gelu(input, approximate); }

}  // namespace descent::nn
