#include "descent/optim/sgd.h"

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct SGDDefinition : PointwiseDefinition {
  using Math = optim_math::SGD;
  static constexpr const char* name = "SGD";
  static constexpr bool has_step = false;
  // PyTorch's SGD updates complex params as complex tensors.
  static constexpr bool kComplexAsIs = true;
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"momentum_buffer"};

  struct Hyper {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
  };
  static Hyper read(const ParamGroup& g) {
    return {get_scalar(g, "lr"),           get_double(g, "momentum"), get_double(g, "dampening"),
            get_double(g, "weight_decay"), get_bool(g, "nesterov"),   get_bool(g, "maximize")};
  }
  static unsigned flags(const Hyper& h) {
    const bool momentum = h.momentum != 0;
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay) |
           optim_math::when(momentum, Math::kMomentum) | optim_math::when(momentum && h.nesterov, Math::kNesterov);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) {
    return {h.weight_decay, h.momentum, 1 - h.dampening, -h.lr};
  }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper&, double, Tensor* const*) { return {}; }
};

bool has_sparse_grad(const ParamGroup& group) {
  for (const Tensor& p : group.params)
    if (p.grad().defined() && p.grad().is_sparse()) return true;
  return false;
}

// Sparse grads have no fused or multi-tensor kernels: param by param.
void sparse_step(Optimizer& opt, ParamGroup& group) {
  if (get_optional_bool(group, "fused").value_or(false))
    raise<RuntimeError>("SGD: `fused` does not support sparse gradients");
  const SGDDefinition::Hyper h = SGDDefinition::read(group);
  check_no_amp_inputs(opt);
  for (ParamSlot& s : collect(opt, group, "", h.momentum != 0)) {
    Tensor grad = maybe_negate(s.grad, h.maximize);
    if (h.weight_decay != 0) grad = grad.add(s.param, h.weight_decay);
    if (h.momentum != 0) {
      Value* stored = s.state->find("momentum_buffer");
      Tensor buf;
      if (!stored || stored->is_none()) {
        buf = grad.detach().clone();
        s.state->set("momentum_buffer", buf);
      } else {
        buf = stored->to_tensor();
        buf.mul_(h.momentum).add_(grad, 1 - h.dampening);
      }
      grad = h.nesterov ? grad.add(buf, h.momentum) : buf;
    }
    s.param.add_(grad, -h.lr);
  }
}

void validate(const SGDOptions& o) {
  check_lr("SGD", o.lr);
  check_non_negative("SGD", "momentum", o.momentum);
  check_non_negative("SGD", "weight_decay", o.weight_decay);
  if (o.nesterov && (o.momentum.to_double() <= 0 || o.dampening.to_double() != 0))
    raise<ValueError>("SGD: Nesterov momentum requires a momentum and zero dampening (got momentum ",
                      o.momentum.str(), ", dampening ", o.dampening.str(), ")");
}
}  // namespace

SGD::SGD(Params params, const SGDOptions& o)
    : PointwiseOptimizer("SGD", (validate(o), options_dict(o)), declaration<SGDDefinition, SGDOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("SGD", o.foreach, o.fused, o.differentiable);
}

void SGD::setstate_group_defaults(ParamGroup& group) {
  // PyTorch's SGD restores fused as False, not None.
  group.options.setdefault("fused", false);
  PointwiseOptimizer::setstate_group_defaults(group);
}

void SGD::step_group(ParamGroup& group) {
  if (has_sparse_grad(group)) return sparse_step(*this, group);
  pointwise_step<SGDDefinition>(*this, state_cache(), group);
}

}  // namespace descent::optim
