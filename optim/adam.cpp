#include "descent/optim/adam.h"

#include <cmath>

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct AdamDefinition : PointwiseDefinition {
  using Math = optim_math::Adam;
  static constexpr const char* name = "Adam";
  static constexpr const char* sparse_error =
      "Adam does not support sparse gradients, please consider SparseAdam instead";
  static constexpr bool kFusedStepIsFloat32 = true;
  // A tensor lr without capturable never defaults to foreach (optimizer-base.md §9.1).
  static constexpr bool kForeachNeedsCapturableTensorLr = true;
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

  struct Hyper {
    Value lr;  // number or tensor: a tensor lr computes step sizes in its own dtype
    double beta1, beta2, eps, weight_decay;
    bool amsgrad, maximize, decoupled;
  };
  static Hyper read(const ParamGroup& g) {
    auto [beta1, beta2] = get_pair(g, "betas");
    return {g.at("lr"),
            beta1,
            beta2,
            get_double(g, "eps"),
            get_double(g, "weight_decay"),
            get_bool(g, "amsgrad"),
            get_bool(g, "maximize"),
            get_bool(g, "decoupled_weight_decay")};
  }
  static unsigned flags(const Hyper& h) {
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay) |
           optim_math::when(h.decoupled, Math::kDecoupled) | optim_math::when(h.amsgrad, Math::kAmsgrad);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) {
    const double wd = h.weight_decay;
    const double keep = lr_expression(h.lr, [&](auto lr) { return 1.0 - lr * wd; });
    return {wd, keep, 1 - h.beta1, h.beta2, 1 - h.beta2, h.eps};
  }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper& h, double step, Tensor* const*) {
    const double bias_correction1 = 1 - std::pow(h.beta1, step);
    return {-lr_expression(h.lr, [&](auto lr) { return lr / bias_correction1; }),
            std::pow(1 - std::pow(h.beta2, step), 0.5)};
  }

  // PyTorch's differentiable forloop keeps the bias corrections as tensors
  // of the step's dtype and folds the step size into the denominator.
  template <class H>
  static void update_differentiable(const Hyper& h, optim_math::Flags f, const H& scalars, const Tensor& step,
                                    Tensor& param, Tensor grad, Tensor* s) {
    optim_math::adam_moments<Math>(f, scalars, param, grad, s);
    Tensor bias_correction1 = pow(Scalar(h.beta1), step).neg().add(1);
    Tensor bias_correction2 = pow(Scalar(h.beta2), step).neg().add(1);
    Tensor neg_step_size =
        (h.lr.is_tensor() ? h.lr.to_tensor() / bias_correction1 : Scalar(h.lr.to_double()) / bias_correction1)
            .neg();
    Tensor second = s[Math::exp_avg_sq];
    if (f.has(Math::kAmsgrad)) {
      maximum_(s[Math::max_exp_avg_sq], s[Math::exp_avg_sq]);
      second = s[Math::max_exp_avg_sq];
    }
    Tensor denom =
        second.sqrt().div(bias_correction2.sqrt().mul(neg_step_size)).add(Scalar(h.eps) / neg_step_size);
    param.addcdiv_(s[Math::exp_avg].clone(), denom);
  }
};

void validate(const std::string& name, const AdamOptions& o) {
  bool foreach = o.foreach.value_or(false);
  if (o.lr.is_tensor() && foreach && !o.capturable)
    raise<ValueError>(name, ": lr as a Tensor is not supported for capturable=False and foreach=True");
  check_lr(name, o.lr);
  check_non_negative(name, "epsilon", o.eps);
  check_betas(name, o.betas);
  check_non_negative(name, "weight_decay", o.weight_decay);
  for (int i = 0; i < 2; ++i)
    if (o.betas[i].is_tensor() && foreach && !o.capturable)
      raise<ValueError>(name, ": betas[", i,
                        "] as a Tensor is not supported for capturable=False and foreach=True");
}

AdamOptions from_adamw(const AdamWOptions& o) {
  return {o.lr,      o.betas,    o.eps,        o.weight_decay,   o.amsgrad,
          o.foreach, o.maximize, o.capturable, o.differentiable, o.fused,
          true};
}
void validate_adamw(const std::string& name, const AdamWOptions& o) { validate(name, from_adamw(o)); }
}  // namespace

Adam::Adam(Params params, const AdamOptions& o)
    : Adam("Adam", std::move(params), o, declaration<AdamDefinition, AdamOptions, &validate>()) {}

Adam::Adam(std::string name, Params params, const AdamOptions& o, Declaration declaration)
    : PointwiseOptimizer(name, (validate(name, o), options_dict(o)), std::move(declaration)) {
  init_param_groups(std::move(params));
  check_fused_flags(name, o.foreach, o.fused, o.differentiable);
}

AdamW::AdamW(Params params, const AdamWOptions& o)
    : Adam("AdamW", std::move(params), from_adamw(o), declaration<AdamDefinition, AdamWOptions, &validate_adamw>()) {}

void AdamW::setstate_group_defaults(ParamGroup& group) {
  Adam::setstate_group_defaults(group);
  group.options.set("decoupled_weight_decay", true);
}

void Adam::upgrade_param_state(const ParamGroup& group, const Tensor& param, Dict& state) {
  Value* step = state.find("step");
  if (!step || step->is_tensor() || state.empty()) return;
  bool fused = get_optional_bool(group, "fused").value_or(false);
  bool capturable = get_bool(group, "capturable");
  double value = step->to_double();
  if (fused || capturable) {
    *step = full({}, value,
                 {.dtype = fused ? kFloat32 : (get_default_dtype() == kFloat64 ? kFloat64 : kFloat32),
                  .device = param.device()});
  } else {
    *step = host_scalar(value);
  }
}

void Adam::step_group(ParamGroup& group) {
  if (choose_implementation(group) == Implementation::ForEach && group.at("lr").is_tensor() &&
      !get_bool(group, "capturable"))
    raise<RuntimeError>(name(), ": lr as a Tensor is not supported for capturable=False and foreach=True");
  pointwise_step<AdamDefinition>(*this, state_cache(), group);
}

}  // namespace descent::optim
