#include "descent/optim/nadam.h"

#include <cmath>

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct NAdamDefinition : PointwiseDefinition {
  using Math = optim_math::NAdam;
  static constexpr const char* name = "NAdam";
  static constexpr bool kForeachReadsLrAsNumber = true;  // its step sizes use the lr's value
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"exp_avg", "exp_avg_sq"};
  static constexpr std::array<const char*, 1> host_keys{"mu_product"};
  static constexpr bool host_keys_first = true;

  struct Hyper {
    Value lr;
    double beta1, beta2, eps, weight_decay, momentum_decay;
    bool decoupled, maximize;
  };
  static Hyper read(const ParamGroup& g) {
    auto [beta1, beta2] = get_pair(g, "betas");
    return {g.at("lr"),
            beta1,
            beta2,
            get_double(g, "eps"),
            get_double(g, "weight_decay"),
            get_double(g, "momentum_decay"),
            get_bool(g, "decoupled_weight_decay"),
            get_bool(g, "maximize")};
  }
  static unsigned flags(const Hyper& h) {
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay) |
           optim_math::when(h.decoupled, Math::kDecoupled);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) {
    const double wd = h.weight_decay;
    const double keep = lr_expression(h.lr, [&](auto lr) { return 1.0 - lr * wd; });
    return {wd, keep, 1 - h.beta1, h.beta2, 1 - h.beta2, h.eps};
  }
  // Advances mu_product (a tensor op: it rounds in the counter's dtype).
  // μ_t, μ_{t+1}, 1 − β2^t and its square root.
  static std::array<double, 4> step_scalars(const Hyper& h, double step) {
    const double bias_correction2 = 1 - std::pow(h.beta2, step);
    return {h.beta1 * (1.0 - 0.5 * std::pow(0.96, step * h.momentum_decay)),
            h.beta1 * (1.0 - 0.5 * std::pow(0.96, (step + 1) * h.momentum_decay)), bias_correction2,
            std::pow(bias_correction2, 0.5)};
  }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper& h, double, Tensor* const* host,
                                                                 const std::array<double, 4>& at_step) {
    // Named copies, not a structured binding: clang 14 (the fuzz build)
    // cannot capture bindings in the lambdas below.
    const double mu = at_step[0], mu_next = at_step[1], bias_correction2 = at_step[2],
                 bias_correction2_sqrt = at_step[3];
    const double product = mul_host_state(*host[0], mu);
    const double product_next = product * mu_next;
    return {bias_correction2, bias_correction2_sqrt,
            lr_expression(h.lr, [&](auto lr) { return -lr * (1.0 - mu) / (1.0 - product); }),
            lr_expression(h.lr, [&](auto lr) { return -lr * mu_next / (1.0 - product_next); })};
  }
  static Tensor init_host(std::size_t, const Hyper&, const Tensor&) { return host_scalar(1.0); }
};

void validate(const NAdamOptions& o) {
  check_lr("NAdam", o.lr);
  check_non_negative("NAdam", "epsilon", o.eps);
  check_betas("NAdam", o.betas);
  check_non_negative("NAdam", "weight_decay", o.weight_decay);
  check_non_negative("NAdam", "momentum_decay", o.momentum_decay);
}
}  // namespace

NAdam::NAdam(Params params, const NAdamOptions& o)
    : PointwiseOptimizer("NAdam", (validate(o), options_dict(o)), declaration<NAdamDefinition, NAdamOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("NAdam", o.foreach, o.fused, o.differentiable);
}

void NAdam::step_group(ParamGroup& group) { pointwise_step<NAdamDefinition>(*this, state_cache(), group); }

}  // namespace descent::optim
