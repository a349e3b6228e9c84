#pragma once
// Adafactor (torch.optim.Adafactor): second moments kept as row and column
// factors for params of two or more dimensions, so the state is O(R + C)
// per matrix instead of O(R·C).
//
//   g = -∇ if maximize else ∇;  t += 1;  w = t^τ (τ = beta2_decay; w = 1 − β2_t)
//   ρ = min(γ, 1/√t);  α = max(ε2, RMS(θ)) · ρ            (RMS before the decay)
//   θ = θ · (1 − γλ)                                       (weight_decay λ)
//   dim ≥ 2: R = lerp(R, mean(g², last dim), w);  C = lerp(C, mean(g², dim −2), w)
//            V = R·C / max(mean(R, dim −2), ε1)           (an outer product per leading index)
//   else:    V = v = lerp(v, g², w)
//   U = g / √max(V, ε1²);  θ = θ − α / max(1, RMS(U)/d) · U
// ε1 = None takes the machine epsilon of the first param's dtype (foreach:
// of the first bucket PyTorch visits). Shazeer & Stern, "Adafactor: Adaptive
// Learning Rates with Sublinear Memory Cost" (2018), with PyTorch's use of
// lr as the cap of ρ and as the decoupled decay's coefficient.
#include <array>
#include <optional>

#include "descent/optim/options.h"
#include "descent/optim/pointwise_optimizer.h"

namespace descent::optim {

/// Adafactor's hyper-parameters, with PyTorch's names and defaults.
struct AdafactorOptions {
  Value lr = 1e-2;  // a number or a one-element tensor
  Value beta2_decay = -0.8;
  // (epsilon1, epsilon2); epsilon1 None: the param dtype's machine epsilon.
  std::array<Value, 2> eps = {Value(), 1e-3};
  Value d = 1.0;
  Value weight_decay = 0.0;
  // Only foreach=True runs the foreach implementation (PyTorch: Adafactor
  // defaults to the forloop, which needs less memory).
  std::optional<bool> foreach{};
  bool maximize = false;
  // A deliberate extension (PyTorch's Adafactor has no fused path): the
  // reductions through tensor ops, then one pass computing U with the row
  // and column factors broadcast and one applying it. Same bits as the
  // forloop for float32 and float64.
  std::optional<bool> fused{};

  static constexpr auto fields() {
    return std::tuple{option("lr", &AdafactorOptions::lr),
                      option("beta2_decay", &AdafactorOptions::beta2_decay),
                      option("eps", &AdafactorOptions::eps),
                      option("d", &AdafactorOptions::d),
                      option("weight_decay", &AdafactorOptions::weight_decay),
                      option("foreach", &AdafactorOptions::foreach),
                      option("maximize", &AdafactorOptions::maximize),
                      option("fused", &AdafactorOptions::fused)};
  }
};

/// Shares the pointwise optimizers' state-dict upgrade (defaults restored,
/// a numeric `step` made a tensor), as PyTorch's __setstate__ does.
class Adafactor : public PointwiseOptimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<Adafactor>(*this); }
  explicit Adafactor(Params params, const AdafactorOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
