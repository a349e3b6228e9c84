#pragma once
// nn::BatchNorm1d — batch normalisation over [N, C] or [N, C, L] inputs
// (torch.nn.BatchNorm1d).
//
// Training: normalises with the batch statistics and moves the running ones:
//   running = (1 - momentum) * running + momentum * batch     (variance: unbiased)
// momentum = std::nullopt (Python's None) uses the cumulative average instead,
// factor 1 / num_batches_tracked. Evaluation: normalises with the running ones.
#include <optional>

#include "descent/autograd/nn/module.h"

namespace descent::nn {

/// BatchNorm1d's settings: eps, momentum (none: cumulative average), affine and bias.
struct BatchNormOptions {
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;
  bool affine = true;               // learnable weight (ones) and bias (zeros)
  bool bias = true;                 // with affine: false leaves out the bias
  bool track_running_stats = true;  // running_mean, running_var, num_batches_tracked buffers
  std::optional<Dtype> dtype{};
  std::optional<Device> device{};
};

/// Batch normalisation over the batch dimension of (N, C) or (N, C, L) input, with running statistics for eval mode.
class BatchNorm1d : public Cloneable<BatchNorm1d> {
 public:
  explicit BatchNorm1d(int64_t num_features, BatchNormOptions options = {});
  void reset() override;
  // running_mean = 0, running_var = 1, num_batches_tracked = 0.
  void reset_running_stats();
  // Also weight = 1, bias = 0.
  void reset_parameters();
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "BatchNorm1d"; }
  std::string extra_repr() const override;

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine;
  bool track_running_stats;
  Tensor weight, bias;                                    // undefined unless affine (and bias)
  Tensor running_mean, running_var, num_batches_tracked;  // undefined unless track_running_stats

 private:
  BatchNormOptions options_;
};

}  // namespace descent::nn
