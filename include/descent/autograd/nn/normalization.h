#pragma once
// nn::LayerNorm (torch.nn.LayerNorm): normalises over the trailing dims
// given by normalized_shape,
//   y = (x - mean) / sqrt(var + eps) * weight + bias   (var biased),
// with learnable weight (ones) and bias (zeros) of normalized_shape when
// elementwise_affine.
#include <optional>

#include "descent/autograd/nn/module.h"

namespace descent::nn {

/// LayerNorm's settings: eps, elementwise_affine and bias.
struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;
  bool bias = true;  // with elementwise_affine: false leaves out the bias
  std::optional<Dtype> dtype{};
  std::optional<Device> device{};
};

/// Layer normalisation over the trailing normalized_shape dimensions, with optional elementwise affine.
class LayerNorm : public Cloneable<LayerNorm> {
 public:
  explicit LayerNorm(Shape normalized_shape, LayerNormOptions options = {});
  // torch.nn.LayerNorm(n): normalized_shape = [n].
  explicit LayerNorm(int64_t normalized_shape, LayerNormOptions options = {})
      : LayerNorm(Shape{normalized_shape}, options) {}
  void reset() override;
  // weight = 1, bias = 0.
  void reset_parameters();
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;  // undefined unless elementwise_affine (and bias)

 private:
  LayerNormOptions options_;
};

}  // namespace descent::nn
