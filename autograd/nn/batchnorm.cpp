// nn::BatchNorm1d.
#include "descent/autograd/nn/batchnorm.h"

#include "descent/autograd/grad_mode.h"
#include "descent/autograd/nn/functional.h"
#include "descent/tensor/ops.h"

namespace descent::nn {

BatchNorm1d::BatchNorm1d(int64_t features, BatchNormOptions options)
    : num_features(features),
      eps(options.eps),
      momentum(options.momentum),
      affine(options.affine),
      track_running_stats(options.track_running_stats),
      options_(options) {
  if (features < 0) raise<ValueError>("BatchNorm1d: num_features must be non-negative (got ", features, ")");
  reset();
  reset_parameters();
}

void BatchNorm1d::reset() {
  TensorOptions o{.dtype = options_.dtype, .device = options_.device};
  if (affine) {
    weight = register_parameter("weight", empty({num_features}, o));
    if (options_.bias) bias = register_parameter("bias", empty({num_features}, o));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", empty({num_features}, o));
    running_var = register_buffer("running_var", empty({num_features}, o));
    num_batches_tracked =
        register_buffer("num_batches_tracked", zeros({}, {.dtype = kInt64, .device = options_.device}));
  }
}

void BatchNorm1d::reset_running_stats() {
  if (!track_running_stats) return;
  autograd::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

void BatchNorm1d::reset_parameters() {
  reset_running_stats();
  if (!affine) return;
  autograd::NoGradGuard no_grad;
  weight.fill_(1);
  if (bias.defined()) bias.zero_();
}

Tensor BatchNorm1d::forward(const Tensor& input) {
  if (input.dim() != 2 && input.dim() != 3)
    raise<ValueError>("expected 2D or 3D input (got ", input.dim(), "D input)");
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    {
      autograd::NoGradGuard no_grad;
      num_batches_tracked.add_(1);
    }
    // momentum None: a cumulative moving average (every batch weighs the same).
    if (!momentum) factor = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  bool use_batch_stats = is_training() || !track_running_stats;
  bool update_stats = !is_training() || track_running_stats;
  return functional::batch_norm(input, update_stats ? running_mean : Tensor(),
                                update_stats ? running_var : Tensor(), weight, bias, use_batch_stats, factor,
                                eps);
}

std::string BatchNorm1d::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + format_double(eps) +
         ", momentum=" + (momentum ? format_double(*momentum) : "None") +
         ", affine=" + (affine ? "True" : "False") + ", bias=" + (bias.defined() ? "True" : "False") +
         ", track_running_stats=" + (track_running_stats ? "True" : "False");
}

}  // namespace descent::nn
