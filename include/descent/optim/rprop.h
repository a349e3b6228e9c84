#pragma once
// Rprop (torch.optim.Rprop).
//
//   g = -∇ if maximize else ∇;  t += 1;  s = sign(g·prev)
//   η = η+ where s > 0, η− where s < 0, 1 where s = 0  (etas = (η−, η+))
//   step_size = clamp(step_size·η, step_sizes[0], step_sizes[1])
//   g = 0 where η = η−;  θ = θ − sign(g)·step_size;  prev = g
// Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation
// Learning: The RPROP Algorithm" (1993).
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// Rprop's hyper-parameters, with PyTorch's names and defaults.
struct RpropOptions {
  Value lr = 1e-2;  // a number or a one-element tensor
  std::array<Value, 2> etas = {0.5, 1.2};
  std::array<Value, 2> step_sizes = {1e-6, 50};
  std::optional<bool> foreach{};
  bool maximize = false;
  bool differentiable = false;
  bool capturable = false;
  std::optional<bool> fused{};  // descent's extension: PyTorch has no fused Rprop

  static constexpr auto fields() {
    return std::tuple{option("lr", &RpropOptions::lr),
                      option("etas", &RpropOptions::etas),
                      option("step_sizes", &RpropOptions::step_sizes),
                      option("foreach", &RpropOptions::foreach),
                      option("maximize", &RpropOptions::maximize),
                      option("differentiable", &RpropOptions::differentiable),
                      option("capturable", &RpropOptions::capturable),
                      option("fused", &RpropOptions::fused)};
  }
};

/// Rprop (torch.optim.Rprop): per-coordinate step sizes grown or shrunk by the sign of successive gradients.
class Rprop : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<Rprop>(*this); }
  explicit Rprop(Params params, const RpropOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
