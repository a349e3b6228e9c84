#pragma once
// Adam and AdamW (torch.optim.Adam / torch.optim.AdamW).
//
//   g = -∇ if maximize else ∇;  t += 1
//   weight decay: θ = θ·(1 − γλ) when decoupled (AdamW), else g += λθ
//   m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²
//   v̂ = max(v̂, v) with amsgrad
//   θ = θ − γ/(1 − β1^t) · m / (sqrt(v or v̂) / sqrt(1 − β2^t) + ε)
// Kingma & Ba, "Adam: A Method for Stochastic Optimization" (2014);
// Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (2017);
// Reddi et al., "On the Convergence of Adam and Beyond" (2018, amsgrad).
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// Adam's hyper-parameters, with PyTorch's names and defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8).
struct AdamOptions {
  Value lr = 1e-3;  // a number or a one-element tensor
  std::array<Value, 2> betas = {0.9, 0.999};
  Value eps = 1e-8;
  Value weight_decay = 0;
  bool amsgrad = false;
  std::optional<bool> foreach{};
  bool maximize = false;
  bool capturable = false;
  bool differentiable = false;
  std::optional<bool> fused{};
  bool decoupled_weight_decay = false;

  // In PyTorch's order of the defaults dict.
  static constexpr auto fields() {
    return std::tuple{option("lr", &AdamOptions::lr),
                      option("betas", &AdamOptions::betas),
                      option("eps", &AdamOptions::eps),
                      option("weight_decay", &AdamOptions::weight_decay),
                      option("amsgrad", &AdamOptions::amsgrad),
                      option("maximize", &AdamOptions::maximize),
                      option("foreach", &AdamOptions::foreach),
                      option("capturable", &AdamOptions::capturable),
                      option("differentiable", &AdamOptions::differentiable),
                      option("fused", &AdamOptions::fused),
                      option("decoupled_weight_decay", &AdamOptions::decoupled_weight_decay)};
  }
};

/// AdamW's options: Adam's, with weight decay 1e-2 and always decoupled.
struct AdamWOptions {
  Value lr = 1e-3;
  std::array<Value, 2> betas = {0.9, 0.999};
  Value eps = 1e-8;
  Value weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
  std::optional<bool> foreach{};
  bool capturable = false;
  bool differentiable = false;
  std::optional<bool> fused{};

  static constexpr auto fields() {
    return std::tuple{option("lr", &AdamWOptions::lr),
                      option("betas", &AdamWOptions::betas),
                      option("eps", &AdamWOptions::eps),
                      option("weight_decay", &AdamWOptions::weight_decay),
                      option("amsgrad", &AdamWOptions::amsgrad),
                      option("maximize", &AdamWOptions::maximize),
                      option("foreach", &AdamWOptions::foreach),
                      option("capturable", &AdamWOptions::capturable),
                      option("differentiable", &AdamWOptions::differentiable),
                      option("fused", &AdamWOptions::fused)};
  }
};

/// Adam (torch.optim.Adam), with amsgrad and optional decoupled weight decay.
class Adam : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<Adam>(*this); }
  explicit Adam(Params params, const AdamOptions& options = {});

 protected:
  Adam(std::string name, Params params, const AdamOptions& options, Declaration declaration);
  void step_group(ParamGroup& group) override;
  void upgrade_param_state(const ParamGroup& group, const Tensor& param, Dict& state) override;
};

/// AdamW (torch.optim.AdamW): Adam with decoupled weight decay.
class AdamW : public Adam {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<AdamW>(*this); }
  explicit AdamW(Params params, const AdamWOptions& options = {});

 protected:
  void setstate_group_defaults(ParamGroup& group) override;
};

}  // namespace descent::optim
