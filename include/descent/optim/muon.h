#pragma once
// Muon (torch.optim.Muon): momentum orthogonalised by a Newton–Schulz
// iteration, for 2-D parameters (the hidden layers' weight matrices; other
// parameters belong to another optimizer such as AdamW).
//
//   b = lerp(b, g, 1 − μ)                      (an EMA: μ·b + (1 − μ)·g)
//   u = lerp(g, b, μ) if nesterov else b
//   O = NS(u)                                  (bfloat16, see below)
//   θ = θ·(1 − γλ);  θ = θ − γ'·O              (decay with the unadjusted γ)
//   γ' = γ·√max(1, A/B)      adjust_lr_fn None or "original"   (θ is A×B)
//        γ·0.2·√max(A, B)    "match_rms_adamw"
//        γ·√(A/B)            "spectral_unclamped"
// NS(G), k = ns_steps, coefficients (a, b, c), all in bfloat16 as PyTorch:
//   X = G (transposed when A > B);  X = X / max(‖X‖_F, ε)
//   k times: S = X·Xᵀ;  T = b·S + c·S·S;  X = a·X + T·X
// Jordan et al., "Muon: An optimizer for hidden layers in neural networks"
// (2024); Liu et al., "Muon is Scalable for LLM Training" (2025); Bernstein,
// "Deriving Muon" (2025).
#include <vector>

#include "descent/optim/optimizer.h"
#include "descent/optim/options.h"

namespace descent::optim {

/// Muon's hyper-parameters, with PyTorch's names and defaults.
struct MuonOptions {
  Value lr = 1e-3;  // a number or a one-element tensor
  Value weight_decay = 0.1;
  Value momentum = 0.95;
  bool nesterov = true;
  // Three numbers (a, b, c); checked at the step, as PyTorch does.
  Value ns_coefficients = Value::tuple({3.4445, -4.775, 2.0315});
  Value eps = 1e-7;
  Value ns_steps = 5;
  // None, "original", "match_rms_adamw" or "spectral_unclamped".
  Value adjust_lr_fn{};

  static constexpr auto fields() {
    return std::tuple{option("lr", &MuonOptions::lr),
                      option("weight_decay", &MuonOptions::weight_decay),
                      option("momentum", &MuonOptions::momentum),
                      option("nesterov", &MuonOptions::nesterov),
                      option("ns_coefficients", &MuonOptions::ns_coefficients),
                      option("eps", &MuonOptions::eps),
                      option("ns_steps", &MuonOptions::ns_steps),
                      option("adjust_lr_fn", &MuonOptions::adjust_lr_fn)};
  }
};

/// Muon (torch.optim.Muon): momentum on 2-D parameters, orthogonalised by Newton-Schulz iterations.
class Muon : public Optimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<Muon>(*this); }
  // ValueError unless every param of `params` is 2-D (params added later by
  // add_param_group are checked at the step, by their grads).
  explicit Muon(Params params, const MuonOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

// The Newton–Schulz orthogonalisation Muon applies to its update
// (PyTorch's _zeropower_via_newtonschulz): a bfloat16 tensor of grad's
// shape. ValueError when ns_steps >= 100, grad is not 2-D or there are not
// exactly three coefficients (checked in that order).
Tensor zeropower_via_newtonschulz(const Tensor& grad, const std::vector<double>& ns_coefficients, int64_t ns_steps,
                                  double eps);

}  // namespace descent::optim
