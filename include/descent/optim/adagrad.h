#pragma once
// Adagrad (torch.optim.Adagrad), dense gradients.
//
//   g = -∇ if maximize else ∇;  t += 1;  g += λθ (weight_decay)
//   s = s + g²;  θ = θ − γ/(1 + (t − 1)·lr_decay) · g / (sqrt(s) + ε)
// The state (step, sum = initial_accumulator_value) starts at construction.
// Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning
// and Stochastic Optimization" (2011).
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// Adagrad's hyper-parameters, with PyTorch's names and defaults.
struct AdagradOptions {
  Value lr = 1e-2;  // a number or a one-element tensor
  Value lr_decay = 0;
  Value weight_decay = 0;
  Value initial_accumulator_value = 0;
  Value eps = 1e-10;
  std::optional<bool> foreach{};
  bool maximize = false;
  bool differentiable = false;
  std::optional<bool> fused{};

  static constexpr auto fields() {
    return std::tuple{option("lr", &AdagradOptions::lr),
                      option("lr_decay", &AdagradOptions::lr_decay),
                      option("weight_decay", &AdagradOptions::weight_decay),
                      option("initial_accumulator_value", &AdagradOptions::initial_accumulator_value),
                      option("eps", &AdagradOptions::eps),
                      option("foreach", &AdagradOptions::foreach),
                      option("maximize", &AdagradOptions::maximize),
                      option("differentiable", &AdagradOptions::differentiable),
                      option("fused", &AdagradOptions::fused)};
  }
};

/// Adagrad (torch.optim.Adagrad): per-coordinate steps scaled by the root of the accumulated squared gradients.
class Adagrad : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<Adagrad>(*this); }
  explicit Adagrad(Params params, const AdagradOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
