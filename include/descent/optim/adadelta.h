#pragma once
// Adadelta (torch.optim.Adadelta).
//
//   g = -∇ if maximize else ∇;  t += 1;  g += λθ (weight_decay)
//   v = ρ·v + (1 − ρ)·g²;  δ = sqrt(u + ε) / sqrt(v + ε) · g
//   u = ρ·u + (1 − ρ)·δ²;  θ = θ − γ·δ
// Zeiler, "ADADELTA: An Adaptive Learning Rate Method" (2012).
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// Adadelta's hyper-parameters, with PyTorch's names and defaults.
struct AdadeltaOptions {
  Value lr = 1.0;  // a number or a one-element tensor
  Value rho = 0.9;
  Value eps = 1e-6;
  Value weight_decay = 0;
  std::optional<bool> foreach{};
  bool capturable = false;
  bool maximize = false;
  bool differentiable = false;
  std::optional<bool> fused{};  // descent's extension: PyTorch has no fused Adadelta

  static constexpr auto fields() {
    return std::tuple{option("lr", &AdadeltaOptions::lr),
                      option("rho", &AdadeltaOptions::rho),
                      option("eps", &AdadeltaOptions::eps),
                      option("weight_decay", &AdadeltaOptions::weight_decay),
                      option("foreach", &AdadeltaOptions::foreach),
                      option("capturable", &AdadeltaOptions::capturable),
                      option("maximize", &AdadeltaOptions::maximize),
                      option("differentiable", &AdadeltaOptions::differentiable),
                      option("fused", &AdadeltaOptions::fused)};
  }
};

/// Adadelta (torch.optim.Adadelta): step sizes from running averages of squared gradients and squared updates.
class Adadelta : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<Adadelta>(*this); }
  explicit Adadelta(Params params, const AdadeltaOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
