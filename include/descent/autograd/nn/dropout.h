#pragma once
// nn::Dropout (torch.nn.Dropout): in training mode zeroes each element with
// probability p and scales the others by 1 / (1 - p); in eval mode it is the
// identity. The mask is drawn from `generator` (the default one when null),
// so a run that saves and restores the generator's state repeats its masks.
#include "descent/autograd/nn/module.h"

namespace descent::nn {

/// Zeroes each element with probability p in training mode and scales the rest by 1/(1-p); the identity in eval mode.
class Dropout : public Cloneable<Dropout> {
 public:
  // p must lie in [0, 1]. generator: not owned, must outlive the module.
  explicit Dropout(double p = 0.5, Generator* generator = nullptr);
  void reset() override {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Dropout"; }
  std::string extra_repr() const override;

  double p;
  Generator* generator;
};

}  // namespace descent::nn
