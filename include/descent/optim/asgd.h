#pragma once
// Averaged SGD (torch.optim.ASGD).
//
//   g = -∇ if maximize else ∇;  t += 1;  g += λθ (weight_decay)
//   θ = θ·(1 − lambd·η) − η·g;  ax = ax + (θ − ax)·μ  (ax = θ while μ = 1)
//   then η = γ / (1 + lambd·γ·t)^α,  μ = 1 / max(1, t − t0)
// Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging" (1992).
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// ASGD's hyper-parameters, with PyTorch's names and defaults.
struct ASGDOptions {
  Value lr = 1e-2;  // a number or a one-element tensor
  Value lambd = 1e-4;
  Value alpha = 0.75;
  Value t0 = 1e6;
  Value weight_decay = 0;
  std::optional<bool> foreach{};
  bool maximize = false;
  bool differentiable = false;
  bool capturable = false;
  std::optional<bool> fused{};  // descent's extension: PyTorch has no fused ASGD

  static constexpr auto fields() {
    return std::tuple{option("lr", &ASGDOptions::lr),
                      option("lambd", &ASGDOptions::lambd),
                      option("alpha", &ASGDOptions::alpha),
                      option("t0", &ASGDOptions::t0),
                      option("weight_decay", &ASGDOptions::weight_decay),
                      option("foreach", &ASGDOptions::foreach),
                      option("maximize", &ASGDOptions::maximize),
                      option("differentiable", &ASGDOptions::differentiable),
                      option("capturable", &ASGDOptions::capturable),
                      option("fused", &ASGDOptions::fused)};
  }
};

/// Averaged SGD (torch.optim.ASGD): SGD with a decaying step size and a running average of the iterates kept in state["ax"].
class ASGD : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<ASGD>(*this); }
  explicit ASGD(Params params, const ASGDOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
