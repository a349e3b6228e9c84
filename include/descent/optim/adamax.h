#pragma once
// Adamax (torch.optim.Adamax): Adam with the infinity norm.
//
//   g = -∇ if maximize else ∇;  t += 1;  g += λθ (weight_decay)
//   m = lerp(m, g, 1 − β1);  u = max(u·β2, |g| + ε)
//   θ = θ − γ/(1 − β1^t) · m / u
// Kingma & Ba, "Adam: A Method for Stochastic Optimization" (2014), §7.1.
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// Adamax's hyper-parameters, with PyTorch's names and defaults.
struct AdamaxOptions {
  Value lr = 2e-3;  // a number or a one-element tensor
  std::array<Value, 2> betas = {0.9, 0.999};
  Value eps = 1e-8;
  Value weight_decay = 0;
  std::optional<bool> foreach{};
  bool maximize = false;
  bool differentiable = false;
  bool capturable = false;
  std::optional<bool> fused{};  // descent's extension: PyTorch has no fused Adamax

  static constexpr auto fields() {
    return std::tuple{option("lr", &AdamaxOptions::lr),
                      option("betas", &AdamaxOptions::betas),
                      option("eps", &AdamaxOptions::eps),
                      option("weight_decay", &AdamaxOptions::weight_decay),
                      option("foreach", &AdamaxOptions::foreach),
                      option("maximize", &AdamaxOptions::maximize),
                      option("differentiable", &AdamaxOptions::differentiable),
                      option("capturable", &AdamaxOptions::capturable),
                      option("fused", &AdamaxOptions::fused)};
  }
};

/// Adamax (torch.optim.Adamax): Adam with the infinity norm in place of the second moment.
class Adamax : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<Adamax>(*this); }
  explicit Adamax(Params params, const AdamaxOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
