#include "descent/optim/radam.h"

#include <cmath>

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct RAdamDefinition : PointwiseDefinition {
  using Math = optim_math::RAdam;
  static constexpr const char* name = "RAdam";
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"exp_avg", "exp_avg_sq"};

  struct Hyper {
    Value lr;
    double beta1, beta2, eps, weight_decay;
    bool decoupled, maximize;
  };
  static Hyper read(const ParamGroup& g) {
    auto [beta1, beta2] = get_pair(g, "betas");
    return {g.at("lr"),           beta1, beta2, get_double(g, "eps"), get_double(g, "weight_decay"),
            get_bool(g, "decoupled_weight_decay"), get_bool(g, "maximize")};
  }
  static unsigned flags(const Hyper& h) {
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay) |
           optim_math::when(h.decoupled, Math::kDecoupled);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) {
    const double wd = h.weight_decay;
    const double keep = lr_expression(h.lr, [&](auto lr) { return 1.0 - lr * wd; });
    return {wd, keep, 1 - h.beta1, h.beta2, 1 - h.beta2, h.eps, h.lr.to_double(), 1.0};
  }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper& h, double step, Tensor* const*) {
    const double bc1 = 1 - std::pow(h.beta1, step);
    const double bc2 = 1 - std::pow(h.beta2, step);
    const double rho_inf = 2 / (1 - h.beta2) - 1;
    const double rho_t = rho_inf - 2 * step * std::pow(h.beta2, step) / bc2;
    const bool rectified = rho_t > 5.0;
    const double ratio = rectified ? (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t) : 0;
    const double rect = rectified ? std::pow(ratio, 0.5) : 0.0;
    const double unrectified = rect > 0 ? 0.0 : 1.0;
    const double bc2_sqrt = std::pow(bc2, 0.5);
    return {bc1,
            bc2_sqrt,
            rect,
            rectified ? 1.0 : 0.0,
            lr_expression(h.lr, [&](auto lr) { return bc2_sqrt * (lr * rect / bc1) * -1.0; }),
            lr_expression(h.lr, [&](auto lr) { return (lr * unrectified / bc1) * -1.0; })};
  }
};

void validate(const RAdamOptions& o) {
  check_lr("RAdam", o.lr);
  check_non_negative("RAdam", "epsilon", o.eps);
  check_betas("RAdam", o.betas);
  check_non_negative("RAdam", "weight_decay", o.weight_decay);
}
}  // namespace

RAdam::RAdam(Params params, const RAdamOptions& o)
    : PointwiseOptimizer("RAdam", (validate(o), options_dict(o)), declaration<RAdamDefinition, RAdamOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("RAdam", o.foreach, o.fused, o.differentiable);
}

void RAdam::step_group(ParamGroup& group) { pointwise_step<RAdamDefinition>(*this, state_cache(), group); }

}  // namespace descent::optim
