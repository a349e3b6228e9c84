#include "descent/optim/rmsprop.h"

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct RMSpropDefinition : PointwiseDefinition {
  using Math = optim_math::RMSprop;
  static constexpr const char* name = "RMSprop";
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"square_avg", "momentum_buffer", "grad_avg"};

  struct Hyper {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered, maximize;
  };
  static Hyper read(const ParamGroup& g) {
    return {g.lr(),
            get_double(g, "alpha"),
            get_double(g, "eps"),
            get_double(g, "weight_decay"),
            get_double(g, "momentum"),
            get_bool(g, "centered"),
            get_bool(g, "maximize")};
  }
  static unsigned flags(const Hyper& h) {
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay) |
           optim_math::when(h.centered, Math::kCentered) | optim_math::when(h.momentum > 0, Math::kMomentum);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) {
    return {h.weight_decay, h.alpha, 1 - h.alpha, h.eps, h.momentum, -h.lr, 1.0, -1.0};
  }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper&, double, Tensor* const*) { return {}; }
};

void validate(const RMSpropOptions& o) {
  check_lr("RMSprop", o.lr);
  check_non_negative("RMSprop", "epsilon", o.eps);
  check_non_negative("RMSprop", "momentum", o.momentum);
  check_non_negative("RMSprop", "weight_decay", o.weight_decay);
  check_non_negative("RMSprop", "alpha", o.alpha);
}
}  // namespace

RMSprop::RMSprop(Params params, const RMSpropOptions& o)
    : PointwiseOptimizer("RMSprop", (validate(o), options_dict(o)), declaration<RMSpropDefinition, RMSpropOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("RMSprop", o.foreach, o.fused, o.differentiable);
}

void RMSprop::step_group(ParamGroup& group) { pointwise_step<RMSpropDefinition>(*this, state_cache(), group); }

}  // namespace descent::optim
