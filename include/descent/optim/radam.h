#pragma once
// RAdam (torch.optim.RAdam).
//
//   g = -∇ if maximize else ∇;  t += 1
//   θ = θ·(1 − γλ) if decoupled_weight_decay, else g += λθ
//   m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²;  m̂ = m / (1 − β1^t)
//   ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t) with ρ∞ = 2/(1 − β2) − 1
//   ρ_t > 5: θ = θ − m̂·γ·sqrt(1 − β2^t)/(sqrt(v) + ε)·r_t, else θ = θ − m̂·γ
//   r_t = sqrt((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
// Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond" (2019).
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// RAdam's hyper-parameters, with PyTorch's names and defaults.
struct RAdamOptions {
  Value lr = 1e-3;  // a number or a one-element tensor
  std::array<Value, 2> betas = {0.9, 0.999};
  Value eps = 1e-8;
  Value weight_decay = 0;
  bool maximize = false;
  std::optional<bool> foreach{};
  bool capturable = false;
  bool decoupled_weight_decay = false;
  bool differentiable = false;
  std::optional<bool> fused{};  // descent's extension: PyTorch has no fused RAdam

  static constexpr auto fields() {
    return std::tuple{option("lr", &RAdamOptions::lr),
                      option("betas", &RAdamOptions::betas),
                      option("eps", &RAdamOptions::eps),
                      option("weight_decay", &RAdamOptions::weight_decay),
                      option("maximize", &RAdamOptions::maximize),
                      option("foreach", &RAdamOptions::foreach),
                      option("capturable", &RAdamOptions::capturable),
                      option("decoupled_weight_decay", &RAdamOptions::decoupled_weight_decay),
                      option("differentiable", &RAdamOptions::differentiable),
                      option("fused", &RAdamOptions::fused)};
  }
};

/// RAdam (torch.optim.RAdam): Adam with the variance of the adaptive step rectified in early steps.
class RAdam : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<RAdam>(*this); }
  explicit RAdam(Params params, const RAdamOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
