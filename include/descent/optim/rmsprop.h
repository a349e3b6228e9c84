#pragma once
// RMSprop (torch.optim.RMSprop).
//
//   g = -∇ if maximize else ∇;  t += 1;  g += λθ (weight_decay)
//   v = α·v + (1 − α)·g²
//   centered: ḡ = lerp(ḡ, g, 1 − α), a = sqrt(v − ḡ²) + ε;  else a = sqrt(v) + ε
//   momentum μ > 0: b = μ·b + g/a, θ = θ − γ·b;  else θ = θ − γ·g/a
// Hinton, "Neural Networks for Machine Learning", lecture 6e; centered:
// Graves, "Generating Sequences With Recurrent Neural Networks" (2013).
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// RMSprop's hyper-parameters, with PyTorch's names and defaults.
struct RMSpropOptions {
  Value lr = 1e-2;  // a number or a one-element tensor
  Value momentum = 0;
  Value alpha = 0.99;
  Value eps = 1e-8;
  bool centered = false;
  Value weight_decay = 0;
  bool capturable = false;
  std::optional<bool> foreach{};
  bool maximize = false;
  bool differentiable = false;
  std::optional<bool> fused{};  // descent's extension: PyTorch has no fused RMSprop

  static constexpr auto fields() {
    return std::tuple{option("lr", &RMSpropOptions::lr),
                      option("momentum", &RMSpropOptions::momentum),
                      option("alpha", &RMSpropOptions::alpha),
                      option("eps", &RMSpropOptions::eps),
                      option("centered", &RMSpropOptions::centered),
                      option("weight_decay", &RMSpropOptions::weight_decay),
                      option("capturable", &RMSpropOptions::capturable),
                      option("foreach", &RMSpropOptions::foreach),
                      option("maximize", &RMSpropOptions::maximize),
                      option("differentiable", &RMSpropOptions::differentiable),
                      option("fused", &RMSpropOptions::fused)};
  }
};

/// RMSprop (torch.optim.RMSprop), with optional centring and momentum.
class RMSprop : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<RMSprop>(*this); }
  explicit RMSprop(Params params, const RMSpropOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
