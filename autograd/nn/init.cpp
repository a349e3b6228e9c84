// nn::init: in-place initialisation from the seedable generator.
#include "descent/autograd/nn/init.h"

#include <cmath>

#include "descent/autograd/grad_mode.h"
#include "descent/tensor/ops.h"
#include "descent/warning.h"

namespace descent::nn::init {

namespace {
// Draws are made in float64 and rounded once to the tensor's dtype.
Tensor assign(const Tensor& tensor, const Tensor& values) {
  autograd::NoGradGuard no_grad;
  Tensor t = tensor;
  t.copy_(values);
  return t;
}

bool is_empty(const Tensor& tensor, const char* op) {
  if (tensor.numel() != 0) return false;
  warn(std::string(op) + ": Initializing zero-element tensors is a no-op");
  return true;
}

double fan_for(const Tensor& tensor, const std::string& mode) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  if (mode == "fan_in") return static_cast<double>(fan_in);
  if (mode == "fan_out") return static_cast<double>(fan_out);
  raise<ValueError>("Mode ", mode, " not supported, please use one of fan_in, fan_out");
}
}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" ||
      nonlinearity == "conv3d" || nonlinearity == "conv_transpose1d" || nonlinearity == "conv_transpose2d" ||
      nonlinearity == "conv_transpose3d" || nonlinearity == "sigmoid")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4.0;
  raise<ValueError>("Unsupported nonlinearity ", nonlinearity);
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  if (tensor.dim() < 2)
    raise<ValueError>(
        "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got shape ",
        shape_to_string(tensor.sizes()), ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive *= tensor.sizes()[d];
  return {tensor.sizes()[1] * receptive, tensor.sizes()[0] * receptive};
}

Tensor uniform_(const Tensor& tensor, double a, double b, Generator* generator) {
  Tensor u = rand(tensor.sizes(), {.dtype = kFloat64}, generator);
  return assign(tensor, add(mul(u, Scalar(b - a)), Scalar(a)));
}

Tensor normal_(const Tensor& tensor, double mean, double std, Generator* generator) {
  Tensor z = randn(tensor.sizes(), {.dtype = kFloat64}, generator);
  return assign(tensor, add(mul(z, Scalar(std)), Scalar(mean)));
}

Tensor constant_(const Tensor& tensor, const Scalar& value) {
  autograd::NoGradGuard no_grad;
  Tensor t = tensor;
  return t.fill_(value);
}
Tensor ones_(const Tensor& tensor) { return constant_(tensor, 1); }
Tensor zeros_(const Tensor& tensor) { return constant_(tensor, 0); }

Tensor kaiming_uniform_(const Tensor& tensor, double a, const std::string& mode,
                        const std::string& nonlinearity, Generator* generator) {
  if (is_empty(tensor, "kaiming_uniform_")) return tensor;
  double bound = std::sqrt(3.0) * (calculate_gain(nonlinearity, a) / std::sqrt(fan_for(tensor, mode)));
  return uniform_(tensor, -bound, bound, generator);
}

Tensor kaiming_normal_(const Tensor& tensor, double a, const std::string& mode,
                       const std::string& nonlinearity, Generator* generator) {
  if (is_empty(tensor, "kaiming_normal_")) return tensor;
  return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(fan_for(tensor, mode)), generator);
}

Tensor xavier_uniform_(const Tensor& tensor, double gain, Generator* generator) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, generator);
}

Tensor xavier_normal_(const Tensor& tensor, double gain, Generator* generator) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  return normal_(tensor, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), generator);
}

}  // namespace descent::nn::init
