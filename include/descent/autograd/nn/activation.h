#pragma once
// Elementwise activation modules (torch.nn.ReLU, Sigmoid, Tanh, GELU).
#include <string>

#include "descent/autograd/nn/module.h"

namespace descent::nn {

/// max(x, 0) elementwise.
class ReLU : public Cloneable<ReLU> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "ReLU"; }
};

/// 1 / (1 + exp(-x)) elementwise.
class Sigmoid : public Cloneable<Sigmoid> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Sigmoid"; }
};

/// tanh(x) elementwise.
class Tanh : public Cloneable<Tanh> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Tanh"; }
};

/// approximate: "none" (exact, with erf) or "tanh"; anything else is a ValueError.
class GELU : public Cloneable<GELU> {
 public:
  explicit GELU(std::string approximate = "none");
  void reset() override {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "GELU"; }
  std::string extra_repr() const override { return "approximate='" + approximate + "'"; }

  std::string approximate;
};

}  // namespace descent::nn
