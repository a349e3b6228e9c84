#pragma once
// descent::nn::functional — torch.nn.functional for the modules descent
// provides. Every function is differentiable (and twice differentiable)
// except where noted. `reduction` is "mean", "sum" or "none", as in PyTorch.
#include <optional>
#include <string>

#include "descent/tensor/generator.h"
#include "descent/tensor/tensor.h"

namespace descent::nn::functional {

// input @ weight.T + bias; weight is [out_features, in_features].
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());

Tensor relu(const Tensor& input);
Tensor sigmoid(const Tensor& input);
Tensor tanh(const Tensor& input);
Tensor softplus(const Tensor& input, double beta = 1.0, double threshold = 20.0);
// approximate: "none" (x * Phi(x), with erf) or "tanh" (PyTorch's tanh approximation).
Tensor gelu(const Tensor& input, const std::string& approximate = "none");
// training: zeroes each element with probability p (drawn from generator, or
// the default one) and scales the rest by 1 / (1 - p); otherwise the input itself.
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true, Generator* generator = nullptr);
// Normalises over the trailing dims given by normalized_shape (biased
// variance), then applies weight and bias (each of normalized_shape) when defined.
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
Tensor log_softmax(const Tensor& input, int64_t dim);
Tensor softmax(const Tensor& input, int64_t dim);

// Rows of weight picked by the int64 indices in input (shape input.shape + [dim]).
// The rows at padding_idx get no gradient. sparse: weight's gradient is a sparse
// COO tensor holding one row per lookup (uncoalesced; not differentiable again).
Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt,
                 bool sparse = false);

// Normalises over every dim but dim 1 (channels). training: batch statistics,
// and running_mean/running_var (when defined) move by `momentum` towards the
// batch mean and unbiased variance; otherwise the running statistics are used.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                  double momentum = 0.1, double eps = 1e-5);

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
// input: log-probabilities [N, C, ...] or [C]; target: class indices (int64).
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                int64_t ignore_index = -100, const std::string& reduction = "mean");
// input: logits [N, C, ...] or [C]; target: class indices (int64) or class
// probabilities (floating, shaped like input).
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                     int64_t ignore_index = -100, const std::string& reduction = "mean",
                     double label_smoothing = 0.0);

}  // namespace descent::nn::functional
