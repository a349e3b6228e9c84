#pragma once
// Stochastic gradient descent, optionally with momentum (torch.optim.SGD).
//
//   g = -∇ if maximize else ∇;  g += λθ (weight_decay)
//   b = g on the first step, else μ·b + (1−τ)·g   (momentum μ, dampening τ)
//   g = g + μ·b if nesterov else b
//   θ = θ − γ·g
// Nesterov momentum after Sutskever et al., "On the importance of
// initialization and momentum in deep learning" (2013).
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// SGD's hyper-parameters, with PyTorch's names and defaults.
struct SGDOptions {
  Value lr = 1e-3;  // a number or a one-element tensor
  Value momentum = 0;
  Value dampening = 0;
  Value weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;
  std::optional<bool> foreach{};
  bool differentiable = false;
  std::optional<bool> fused{};

  static constexpr auto fields() {
    return std::tuple{option("lr", &SGDOptions::lr),
                      option("momentum", &SGDOptions::momentum),
                      option("dampening", &SGDOptions::dampening),
                      option("weight_decay", &SGDOptions::weight_decay),
                      option("nesterov", &SGDOptions::nesterov),
                      option("maximize", &SGDOptions::maximize),
                      option("foreach", &SGDOptions::foreach),
                      option("differentiable", &SGDOptions::differentiable),
                      option("fused", &SGDOptions::fused)};
  }
};

/// Stochastic gradient descent (torch.optim.SGD), with momentum, dampening, Nesterov and weight decay.
class SGD : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<SGD>(*this); }
  explicit SGD(Params params, const SGDOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
  void setstate_group_defaults(ParamGroup& group) override;
};

}  // namespace descent::optim
