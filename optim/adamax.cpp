#include "descent/optim/adamax.h"

#include <cmath>

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct AdamaxDefinition : PointwiseDefinition {
  using Math = optim_math::Adamax;
  static constexpr const char* name = "Adamax";
  static constexpr bool kForeachReadsLrAsNumber = true;  // its step sizes use the lr's value
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"exp_avg", "exp_inf"};

  struct Hyper {
    Value lr;
    double beta1, beta2, eps, weight_decay;
    bool maximize;
  };
  static Hyper read(const ParamGroup& g) {
    auto [beta1, beta2] = get_pair(g, "betas");
    return {g.at("lr"), beta1, beta2, get_double(g, "eps"), get_double(g, "weight_decay"), get_bool(g, "maximize")};
  }
  static unsigned flags(const Hyper& h) {
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) {
    return {h.weight_decay, 1 - h.beta1, h.beta2, h.eps};
  }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper& h, double step, Tensor* const*) {
    const double bias_correction = 1 - std::pow(h.beta1, step);
    return {lr_expression(h.lr, [&](auto lr) { return -(lr / bias_correction); })};
  }
};

void validate(const AdamaxOptions& o) {
  check_lr("Adamax", o.lr);
  check_non_negative("Adamax", "epsilon", o.eps);
  check_betas("Adamax", o.betas);
  check_non_negative("Adamax", "weight_decay", o.weight_decay);
}
}  // namespace

Adamax::Adamax(Params params, const AdamaxOptions& o)
    : PointwiseOptimizer("Adamax", (validate(o), options_dict(o)), declaration<AdamaxDefinition, AdamaxOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("Adamax", o.foreach, o.fused, o.differentiable);
}

void Adamax::step_group(ParamGroup& group) { pointwise_step<AdamaxDefinition>(*this, state_cache(), group); }

}  // namespace descent::optim
