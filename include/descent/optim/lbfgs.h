#pragma once
// L-BFGS (torch.optim.LBFGS), after minFunc: a quasi-Newton method that
// calls the closure many times per step(closure).
//
// All params of the one group are handled as one flat vector x (complex
// params as their real view), g = ∇f(x) (negated when maximizing). Per
// iteration, with the last m pairs s_i = x_{i+1} − x_i, y_i = g_{i+1} − g_i
// (a pair is kept only when yᵀs > 1e-10) and ρ_i = 1/(y_iᵀs_i):
//
//   q = −g;  for i = m−1 … 0:  α_i = ρ_i s_iᵀq;  q −= α_i y_i
//   r = H₀ q  (H₀ = yᵀs / yᵀy of the newest pair; 1 at first)
//   for i = 0 … m−1:  β = ρ_i y_iᵀr;  r += (α_i − β) s_i
//   d = r;  x += t d
//
// t is lr (min(1, 1/‖g‖₁)·lr at the very first iteration), or the step the
// strong Wolfe line search (cubic interpolation, bracketing and zoom) finds
// within the remaining evaluation budget. A step runs at most max_iter
// iterations and max_eval closure evaluations and stops early on
// ‖g‖∞ ≤ tolerance_grad, ‖t d‖∞ ≤ tolerance_change or a loss change below
// tolerance_change. Its state (history, direction, counters) lives under the
// first param, with PyTorch's keys, so state_dict round-trips it.
// Nocedal, "Updating Quasi-Newton Matrices with Limited Storage" (1980).
#include <optional>

#include "descent/optim/optimizer.h"
#include "descent/optim/options.h"

namespace descent::optim {

/// LBFGS's settings, with PyTorch's names and defaults (line_search_fn none or "strong_wolfe").
struct LBFGSOptions {
  Value lr = 1;  // a number or a one-element tensor
  Value max_iter = 20;
  Value max_eval{};  // None: max_iter * 5 / 4 (integer division)
  Value tolerance_grad = 1e-7;
  Value tolerance_change = 1e-9;
  Value history_size = 100;
  Value line_search_fn{};  // None or "strong_wolfe"
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{option("lr", &LBFGSOptions::lr),
                      option("max_iter", &LBFGSOptions::max_iter),
                      option("max_eval", &LBFGSOptions::max_eval),
                      option("tolerance_grad", &LBFGSOptions::tolerance_grad),
                      option("tolerance_change", &LBFGSOptions::tolerance_change),
                      option("history_size", &LBFGSOptions::history_size),
                      option("line_search_fn", &LBFGSOptions::line_search_fn),
                      option("maximize", &LBFGSOptions::maximize)};
  }
};

/// L-BFGS (torch.optim.LBFGS): quasi-Newton steps from a limited history; step() needs a closure that re-evaluates the loss.
class LBFGS : public Optimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<LBFGS>(*this); }
  // One param group only (ValueError otherwise).
  explicit LBFGS(Params params, const LBFGSOptions& options = {});

 protected:
  // step(closure) requires the closure (TypeError without one) and returns
  // its first loss.
  Tensor step_impl(const Closure& closure) override;
  // Unused: step_impl handles the single group itself.
  void step_group(ParamGroup& group) override;
  // A state dict from before `maximize` existed minimises.
  void setstate_group_defaults(ParamGroup& group) override;
};

}  // namespace descent::optim
