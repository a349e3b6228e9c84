#pragma once
// descent::nn::init — torch.nn.init: fill a tensor in place from a
// distribution, without recording gradients. Random draws come from
// `generator` (the default generator when null), so seeding it makes
// initialisation reproducible; the stream is descent's, not PyTorch's.
#include <optional>
#include <string>
#include <utility>

#include "descent/tensor/generator.h"
#include "descent/tensor/tensor.h"

namespace descent::nn::init {

// The recommended gain for a nonlinearity ("linear", "conv1d".."conv3d",
// "sigmoid", "tanh", "relu", "leaky_relu" (param: negative slope, default 0.01), "selu").
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);
// (fan_in, fan_out) of a weight of at least 2 dims: [out, in, *receptive field].
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);

Tensor uniform_(const Tensor& tensor, double a = 0.0, double b = 1.0, Generator* generator = nullptr);
Tensor normal_(const Tensor& tensor, double mean = 0.0, double std = 1.0, Generator* generator = nullptr);
Tensor constant_(const Tensor& tensor, const Scalar& value);
Tensor ones_(const Tensor& tensor);
Tensor zeros_(const Tensor& tensor);
// U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).
Tensor kaiming_uniform_(const Tensor& tensor, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* generator = nullptr);
// N(0, std^2) with std = gain / sqrt(fan).
Tensor kaiming_normal_(const Tensor& tensor, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu", Generator* generator = nullptr);
// U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(const Tensor& tensor, double gain = 1.0, Generator* generator = nullptr);
// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(const Tensor& tensor, double gain = 1.0, Generator* generator = nullptr);

}  // namespace descent::nn::init
