#pragma once
// Elementwise activation modules (torch.nn.ReLU, Sigmoid, Tanh).
#include "descent/autograd/nn/module.h"

namespace descent::nn {

class ReLU : public Cloneable<ReLU> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "ReLU"; }
};

class Sigmoid : public Cloneable<Sigmoid> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Sigmoid"; }
};

class Tanh : public Cloneable<Tanh> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Tanh"; }
};

}  // namespace descent::nn
