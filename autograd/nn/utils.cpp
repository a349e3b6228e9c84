// nn::utils: gradient clipping and flat parameter vectors.
#include "descent/autograd/nn/utils.h"

#include <algorithm>
#include <cmath>

#include "descent/autograd/autograd.h"
#include "descent/tensor/ops.h"

namespace descent::nn::utils {

namespace {
std::vector<Tensor> defined_grads(const std::vector<Tensor>& parameters) {
  std::vector<Tensor> grads;
  for (const Tensor& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  return grads;
}

// The tensors grouped by (device, dtype), groups in order of first appearance.
std::vector<std::vector<Tensor>> group_by_device_and_dtype(const std::vector<Tensor>& tensors) {
  std::vector<std::vector<Tensor>> groups;
  for (const Tensor& t : tensors) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const std::vector<Tensor>& g) {
      return g[0].device() == t.device() && g[0].dtype() == t.dtype();
    });
    if (it == groups.end()) {
      groups.push_back({t});
    } else {
      it->push_back(t);
    }
  }
  return groups;
}
}  // namespace

Tensor get_total_norm(const std::vector<Tensor>& tensors, double norm_type, bool error_if_nonfinite,
                      std::optional<bool> foreach) {
  (void)foreach;  // every device has the grouped path; the values do not depend on it
  autograd::NoGradGuard no_grad;
  if (tensors.empty()) return scalar_tensor(0.0);
  Device first = tensors[0].device();
  std::vector<Tensor> norms;
  for (const auto& group : group_by_device_and_dtype(tensors))
    for (const Tensor& t : group) norms.push_back(t.to_dense().norm(norm_type).to(first));
  Tensor total = stack(norms).norm(norm_type);
  if (error_if_nonfinite && !std::isfinite(total.item<double>()))
    raise<RuntimeError>(
        "The total norm of order ", format_double(norm_type),
        " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this "
        "error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`");
  return total;
}

void clip_grads_with_norm_(const std::vector<Tensor>& parameters, double max_norm, const Tensor& total_norm,
                           std::optional<bool> foreach) {
  (void)foreach;
  autograd::NoGradGuard no_grad;
  std::vector<Tensor> grads = defined_grads(parameters);
  if (grads.empty()) return;
  // Python's max_norm / (total_norm + 1e-6): a reciprocal, then a product.
  Tensor coef = clamp(Scalar(max_norm) / add(total_norm, Scalar(1e-6)), std::nullopt, Scalar(1.0));
  for (const auto& group : group_by_device_and_dtype(grads)) {
    Tensor c = coef.to(group[0].device());
    for (Tensor g : group) g.mul_(c);
  }
}

Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite, std::optional<bool> foreach) {
  Tensor total = get_total_norm(defined_grads(parameters), norm_type, error_if_nonfinite, foreach);
  clip_grads_with_norm_(parameters, max_norm, total, foreach);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value, std::optional<bool> foreach) {
  (void)foreach;
  autograd::NoGradGuard no_grad;
  for (Tensor g : defined_grads(parameters)) g.clamp_(Scalar(-clip_value), Scalar(clip_value));
}

Tensor parameters_to_vector(const std::vector<Tensor>& parameters) {
  std::vector<Tensor> flat;
  for (const Tensor& p : parameters) {
    if (!flat.empty() && p.device() != parameters[0].device())
      raise<DeviceError>("Found two parameters on different devices, this is currently not supported.");
    flat.push_back(p.reshape({-1}));
  }
  if (flat.empty()) raise<ValueError>("parameters_to_vector: expected a non-empty list of parameters");
  return cat(flat);
}

void vector_to_parameters(const Tensor& vec, const std::vector<Tensor>& parameters) {
  if (!vec.defined()) raise<TypeError>("vector_to_parameters: expected a defined tensor, got an undefined one");
  if (vec.dim() != 1)
    raise<ShapeError>("vector_to_parameters: expected a 1-D vector, got shape ",
                      shape_to_string(vec.sizes()));
  int64_t total = 0;
  for (const Tensor& p : parameters) total += p.numel();
  if (total != vec.numel())
    raise<ShapeError>("vector_to_parameters: the vector has ", vec.numel(),
                      " elements but the parameters need ", total);
  autograd::NoGradGuard no_grad;
  int64_t offset = 0;
  for (const Tensor& p : parameters) {
    if (p.device() != vec.device())
      raise<DeviceError>("Found two parameters on different devices, this is currently not supported.");
    autograd::set_data(p, vec.detach().narrow(0, offset, p.numel()).view(p.sizes()));
    offset += p.numel();
  }
}

}  // namespace descent::nn::utils
