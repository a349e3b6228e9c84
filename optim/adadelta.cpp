#include "descent/optim/adadelta.h"

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct AdadeltaDefinition : PointwiseDefinition {
  using Math = optim_math::Adadelta;
  static constexpr const char* name = "Adadelta";
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"square_avg", "acc_delta"};

  struct Hyper {
    double lr, rho, eps, weight_decay;
    bool maximize;
  };
  static Hyper read(const ParamGroup& g) {
    return {g.lr(), get_double(g, "rho"), get_double(g, "eps"), get_double(g, "weight_decay"),
            get_bool(g, "maximize")};
  }
  static unsigned flags(const Hyper& h) {
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) {
    return {h.weight_decay, h.rho, 1 - h.rho, h.eps, -h.lr};
  }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper&, double, Tensor* const*) { return {}; }
};

void validate(const AdadeltaOptions& o) {
  check_lr("Adadelta", o.lr);
  const double rho = o.rho.to_double();
  if (!(rho >= 0.0 && rho <= 1.0))
    raise<ValueError>("Adadelta: Invalid rho value: ", o.rho.str(), " (must be in [0, 1])");
  check_non_negative("Adadelta", "epsilon", o.eps);
  check_non_negative("Adadelta", "weight_decay", o.weight_decay);
}
}  // namespace

Adadelta::Adadelta(Params params, const AdadeltaOptions& o)
    : PointwiseOptimizer("Adadelta", (validate(o), options_dict(o)), declaration<AdadeltaDefinition, AdadeltaOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("Adadelta", o.foreach, o.fused, o.differentiable);
}

void Adadelta::step_group(ParamGroup& group) { pointwise_step<AdadeltaDefinition>(*this, state_cache(), group); }

}  // namespace descent::optim
