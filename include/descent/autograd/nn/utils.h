#pragma once
// descent::nn::utils — gradient clipping and flat parameter vectors
// (torch.nn.utils). None of these record gradients.
#include <optional>
#include <vector>

#include "descent/tensor/tensor.h"

namespace descent::nn::utils {

// The norm of all tensors' norms ("as if concatenated into one vector"), on
// the first tensor's device; tensor(0.) for an empty list. error_if_nonfinite:
// RuntimeError when the result is nan or inf. foreach: group the tensors by
// device and dtype (available on every device; same values either way).
Tensor get_total_norm(const std::vector<Tensor>& tensors, double norm_type = 2.0,
                      bool error_if_nonfinite = false, std::optional<bool> foreach = std::nullopt);
// Scales every defined .grad by min(max_norm / (total_norm + 1e-6), 1), in place.
void clip_grads_with_norm_(const std::vector<Tensor>& parameters, double max_norm, const Tensor& total_norm,
                           std::optional<bool> foreach = std::nullopt);
// Both of the above on the parameters' grads; returns the total norm.
Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false, std::optional<bool> foreach = std::nullopt);
// Clamps every defined .grad to [-clip_value, clip_value], in place.
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value,
                      std::optional<bool> foreach = std::nullopt);

// All parameters flattened and concatenated (they must share a device).
Tensor parameters_to_vector(const std::vector<Tensor>& parameters);
// Points each parameter's data at its slice of vec (PyTorch's `param.data = ...`):
// afterwards the parameters share vec's memory.
void vector_to_parameters(const Tensor& vec, const std::vector<Tensor>& parameters);

}  // namespace descent::nn::utils
