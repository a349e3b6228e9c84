#pragma once
// SparseAdam (torch.optim.SparseAdam): Adam masked to the entries a sparse
// gradient holds, for dense params whose grads are sparse (an Embedding with
// sparse=true). Moments of entries the grad does not hold do not decay.
//
//   g = -∇ if maximize else ∇, coalesced;  t += 1 (a number)
//   at the grad's indices only:
//     m += (g − m)·(1 − β1);  v += (g² − v)·(1 − β2)
//     θ −= γ·sqrt(1 − β2^t)/(1 − β1^t) · m / (sqrt(v) + ε)
// ε is not bias-corrected (unlike Adam's sqrt(v)/sqrt(1 − β2^t) + ε).
// Kingma & Ba, "Adam: A Method for Stochastic Optimization" (2014).
#include <array>

#include "descent/optim/optimizer.h"
#include "descent/optim/options.h"

namespace descent::optim {

/// SparseAdam's hyper-parameters, with PyTorch's names and defaults.
struct SparseAdamOptions {
  Value lr = 1e-3;  // a number or a one-element tensor; > 0
  std::array<Value, 2> betas = {0.9, 0.999};
  Value eps = 1e-8;  // > 0
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{option("lr", &SparseAdamOptions::lr), option("betas", &SparseAdamOptions::betas),
                      option("eps", &SparseAdamOptions::eps), option("maximize", &SparseAdamOptions::maximize)};
  }
};

/// SparseAdam (torch.optim.SparseAdam): Adam that updates only the rows a sparse gradient touches.
class SparseAdam : public Optimizer {
 public:
  std::unique_ptr<Optimizer> deepcopy() const override { return std::make_unique<SparseAdam>(*this); }
  // Raises ValueError for sparse or complex params, naming their [group, position].
  explicit SparseAdam(Params params, const SparseAdamOptions& options = {});

 protected:
  void step_group(ParamGroup& group) override;
};

}  // namespace descent::optim
