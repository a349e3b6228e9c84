#pragma once
// NAdam (torch.optim.NAdam).
//
//   g = -∇ if maximize else ∇;  t += 1
//   θ = θ·(1 − γλ) if decoupled_weight_decay, else g += λθ
//   μ_t = β1·(1 − ½·0.96^(t·ψ));  Πμ = Πμ·μ_t  (ψ: momentum_decay)
//   m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²;  d = sqrt(v / (1 − β2^t)) + ε
//   θ = θ − γ(1 − μ_t)/(1 − Πμ)·g/d − γ·μ_{t+1}/(1 − Πμ·μ_{t+1})·m/d
// Dozat, "Incorporating Nesterov Momentum into Adam" (2016).
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// NAdam's hyper-parameters, with PyTorch's names and defaults.
struct NAdamOptions {
  Value lr = 2e-3;  // a number or a one-element tensor
  std::array<Value, 2> betas = {0.9, 0.999};
  Value eps = 1e-8;
  Value weight_decay = 0;
  Value momentum_decay = 4e-3;
  bool decoupled_weight_decay = false;
  bool maximize = false;
  std::optional<bool> foreach{};
  bool capturable = false;
  bool differentiable = false;
  std::optional<bool> fused{};  // descent's extension: PyTorch has no fused NAdam

  static constexpr auto fields() {
    return std::tuple{option("lr", &NAdamOptions::lr),
                      option("betas", &NAdamOptions::betas),
                      option("eps", &NAdamOptions::eps),
                      option("weight_decay", &NAdamOptions::weight_decay),
                      option("momentum_decay", &NAdamOptions::momentum_decay),
                      option("decoupled_weight_decay", &NAdamOptions::decoupled_weight_decay),
                      option("maximize", &NAdamOptions::maximize),
                      option("foreach", &NAdamOptions::foreach),
                      option("capturable", &NAdamOptions::capturable),
                      option("differentiable", &NAdamOptions::differentiable),
                      option("fused", &NAdamOptions::fused)};
  }
};

/// NAdam (torch.optim.NAdam): Adam with Nesterov momentum and momentum decay.
class NAdam : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<NAdam>(*this); }
  explicit NAdam(Params params, const NAdamOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
