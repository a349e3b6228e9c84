#pragma once
// nn::Linear — y = x W^T + b (torch.nn.Linear).
#include <optional>

#include "descent/autograd/nn/module.h"

namespace descent::nn {

/// Linear's settings: bias, dtype, device and the Generator of the initial values.
struct LinearOptions {
  bool bias = true;
  std::optional<Dtype> dtype{};  // default: the default dtype
  std::optional<Device> device{};
  Generator* generator = nullptr;  // for the initial values; default generator when null
};

/// y = x Wᵀ + b, with W and b initialised as PyTorch does.
class Linear : public Cloneable<Linear> {
 public:
  // weight [out_features, in_features] ~ kaiming_uniform(a = sqrt(5)), i.e.
  // U(-1/sqrt(in_features), 1/sqrt(in_features)); bias ~ the same uniform.
  Linear(int64_t in_features, int64_t out_features, LinearOptions options = {});
  void reset() override;
  void reset_parameters(Generator* generator = nullptr);
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Linear"; }
  std::string extra_repr() const override;

  int64_t in_features;
  int64_t out_features;
  Tensor weight;
  Tensor bias;  // undefined when built with bias = false

 private:
  LinearOptions options_;
};

}  // namespace descent::nn
