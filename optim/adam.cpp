#include "descent/optim/adam.h"

#include <cmath>

#include "descent/tensor/foreach.h"
#include "optim/common.h"
#include "optim/fused_launch.h"
#include "optim/state_cache.h"

namespace descent::optim {

using namespace detail;

namespace {
Dict adam_defaults(const AdamOptions& o) {
  return Dict{{"lr", squeeze_scalar(o.lr)},
              {"betas", Value::tuple({squeeze_scalar(o.betas[0]), squeeze_scalar(o.betas[1])})},
              {"eps", o.eps},
              {"weight_decay", o.weight_decay},
              {"amsgrad", o.amsgrad},
              {"maximize", o.maximize},
              {"foreach", o.foreach},
              {"capturable", o.capturable},
              {"differentiable", o.differentiable},
              {"fused", o.fused},
              {"decoupled_weight_decay", o.decoupled_weight_decay}};
}

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

struct Hyper {
  Value lr;  // number or tensor: a tensor lr computes step sizes in its own dtype
  double beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled, differentiable;
};

// One param's tensors for this step: references into its group, its
// autograd meta and its state dict.
struct Buffers {
  Tensor& param;
  const Tensor& grad;
  Tensor& exp_avg;
  Tensor& exp_avg_sq;
  Tensor* max_exp_avg_sq;  // null without amsgrad
  Tensor& step;
};

// The state entries of a param, in the order prepare() returns them.
const std::vector<std::string>& state_keys(bool amsgrad) {
  static const std::vector<std::string> keys{"step", "exp_avg", "exp_avg_sq"};
  static const std::vector<std::string> amsgrad_keys{"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return amsgrad ? amsgrad_keys : keys;
}

// Each param's state, created lazily (complex state keeps the complex dtype).
// fused_counter: the fused kernel's own float32 counter (fused=True), else the forloop's.
std::vector<StateCache::Tensors> prepare(Optimizer& opt, StateCache& cache, std::size_t group_index,
                                         const std::vector<ParamRef>& params, const Hyper& h, bool fused,
                                         bool fused_counter) {
  auto init = [&](Dict& st, std::size_t k) {
    const Tensor& param = *params[k].param;
    if (st.empty()) {
      // Checked here, as PyTorch does: a param is checked once, when its state starts.
      if (fused) check_fused_param(opt.name(), *params[k].param_impl);
      st.set("step", new_step_counter(param, fused_counter));
      st.set("exp_avg", zeros_like(param));
      st.set("exp_avg_sq", zeros_like(param));
    }
    if (h.amsgrad) st.setdefault("max_exp_avg_sq", zeros_like(param));
  };
  const std::vector<std::string>& keys = state_keys(h.amsgrad);
  std::vector<StateCache::Tensors> state = cache.resolve(opt.state(), group_index, params, keys, init);
  if (fused) return state;  // the launch builder checks its own
  std::vector<StateShape> shapes(keys.size(), StateShape::LikeParam);
  shapes[0] = StateShape::Scalar;
  check_state(opt.name(), params, state, keys, shapes);
  return state;
}

std::vector<Buffers> buffers_of(const std::vector<ParamRef>& params,
                                const std::vector<StateCache::Tensors>& state, bool amsgrad) {
  std::vector<Buffers> all;
  all.reserve(params.size());
  for (std::size_t k = 0; k < params.size(); ++k) {
    const auto& t = state[k].tensor;
    all.push_back({*params[k].param, *params[k].grad, *t[1], *t[2], amsgrad ? t[3] : nullptr, *t[0]});
  }
  return all;
}

// step_size = lr / bias_correction1, in double for a number lr and in the
// tensor's dtype for a tensor lr (optimizer-base.md §14).
double step_size(const Value& lr, double bias_correction1) {
  if (lr.is_tensor()) return lr.to_tensor().div(bias_correction1).item<double>();
  return lr.to_double() / bias_correction1;
}
double decay_factor(const Value& lr, double weight_decay) {
  if (lr.is_tensor()) return lr.to_tensor().mul(weight_decay).neg().add(1).item<double>();
  return 1 - lr.to_double() * weight_decay;
}

void adam_forloop(std::vector<Buffers>& all, const Hyper& h) {
  for (Buffers& b : all) {
    Tensor grad = maybe_negate(b.grad, h.maximize);
    Tensor param = b.param;
    b.step.add_(1);
    if (h.weight_decay != 0) {
      if (h.decoupled) {
        param.mul_(decay_factor(h.lr, h.weight_decay));
      } else {
        grad = grad.add(param, h.weight_decay);
      }
    }
    Tensor exp_avg = as_real(b.exp_avg), exp_avg_sq = as_real(b.exp_avg_sq), vmax;
    if (h.amsgrad) vmax = as_real(*b.max_exp_avg_sq);
    grad = as_real(grad);
    param = as_real(param);
    exp_avg.lerp_(grad, 1 - h.beta1);
    exp_avg_sq.mul_(h.beta2).addcmul_(grad, grad, 1 - h.beta2);
    if (h.differentiable) {
      // The tensor formulation keeps every quantity in the graph.
      Tensor bc1 = pow(Scalar(h.beta1), b.step).neg().add(1);
      Tensor bc2 = pow(Scalar(h.beta2), b.step).neg().add(1);
      Tensor neg_step = (h.lr.is_tensor() ? h.lr.to_tensor() / bc1 : Scalar(h.lr.to_double()) / bc1).neg();
      Tensor second = exp_avg_sq;
      if (h.amsgrad) {
        // maximum() saves its inputs for backward: it must not see vmax overwritten,
        // nor hold exp_avg_sq itself, whose next in-place update would point its
        // history back at this node (a reference cycle that is never freed).
        vmax.copy_(maximum(vmax.clone(), exp_avg_sq.clone()));
        second = vmax;
      }
      Tensor denom = second.sqrt().div(bc2.sqrt().mul(neg_step)).add(Scalar(h.eps) / neg_step);
      param.addcdiv_(exp_avg.clone(), denom);
      continue;
    }
    double step = b.step.item<double>();
    double bc1 = 1 - std::pow(h.beta1, step);
    double bc2 = 1 - std::pow(h.beta2, step);
    double size = step_size(h.lr, bc1);
    double bc2_sqrt = std::pow(bc2, 0.5);
    Tensor denom;
    if (h.amsgrad) {
      vmax.copy_(maximum(vmax, exp_avg_sq));
      denom = vmax.sqrt().div(bc2_sqrt).add_(h.eps);
    } else {
      denom = exp_avg_sq.sqrt().div(bc2_sqrt).add_(h.eps);
    }
    param.addcdiv_(exp_avg, denom, -size);
  }
}

// Op-major over each (device, dtype) bucket, as PyTorch's _multi_tensor_adam.
void adam_foreach(std::vector<Buffers>& all, const Hyper& h) {
  for (const auto& bucket : buckets(all)) {
    TensorList params, grads, exp_avgs, exp_avg_sqs, vmaxes, steps;
    for (std::size_t i : bucket) {
      const Buffers& b = all[i];
      params.push_back(as_real(b.param));
      grads.push_back(as_real(b.grad));
      exp_avgs.push_back(as_real(b.exp_avg));
      exp_avg_sqs.push_back(as_real(b.exp_avg_sq));
      if (h.amsgrad) vmaxes.push_back(as_real(*b.max_exp_avg_sq));
      steps.push_back(b.step);
    }
    if (h.maximize) grads = _foreach_neg(grads);
    _foreach_add_(steps, 1);
    if (h.weight_decay != 0) {
      if (h.decoupled) {
        _foreach_mul_(params, decay_factor(h.lr, h.weight_decay));
      } else {
        grads = _foreach_add(grads, params, h.weight_decay);
      }
    }
    _foreach_lerp_(exp_avgs, grads, 1 - h.beta1);
    _foreach_mul_(exp_avg_sqs, h.beta2);
    _foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - h.beta2);
    std::vector<Scalar> neg_step_sizes, bc2_sqrts;
    for (const Tensor& step : steps) {
      double t = step.item<double>();
      neg_step_sizes.emplace_back(-step_size(h.lr, 1 - std::pow(h.beta1, t)));
      bc2_sqrts.emplace_back(std::pow(1 - std::pow(h.beta2, t), 0.5));
    }
    TensorList denoms;
    if (h.amsgrad) {
      _foreach_maximum_(vmaxes, exp_avg_sqs);
      denoms = _foreach_sqrt(vmaxes);
    } else {
      denoms = _foreach_sqrt(exp_avg_sqs);
    }
    _foreach_div_(denoms, bc2_sqrts);
    _foreach_add_(denoms, h.eps);
    _foreach_addcdiv_(params, exp_avgs, denoms, neg_step_sizes);
  }
}

void adam_fused(Optimizer& opt, const std::vector<ParamRef>& params,
                const std::vector<StateCache::Tensors>& state, const Hyper& h) {
  std::vector<FusedParam> fused;
  fused.reserve(params.size());
  for (std::size_t k = 0; k < params.size(); ++k) {
    const auto& impl = state[k].impl;
    fused.push_back({params[k].param_impl,
                     params[k].grad_impl,
                     {impl[1], impl[2], h.amsgrad ? impl[3] : nullptr},
                     state[k].tensor[0],
                     impl[0]});
  }
  // Parameters usually share their step: the corrections are computed once per value.
  std::optional<double> last_step;
  double step_size_at_t = 0, bias_correction2_sqrt_at_t = 0;
  auto each = [&](std::size_t, double step, FusedTensor& t) {
    if (step != last_step) {
      last_step = step;
      step_size_at_t = step_size(h.lr, 1 - std::pow(h.beta1, step));
      bias_correction2_sqrt_at_t = std::pow(1 - std::pow(h.beta2, step), 0.5);
    }
    t.step_size = step_size_at_t;
    t.bias_correction2_sqrt = bias_correction2_sqrt_at_t;
  };
  auto one_kind = [](std::size_t) { return 0; };
  for (const FusedLaunch& launch :
       build_fused_launches(opt.name(), fused, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
                            opt.grad_scale.defined(), one_kind, each)) {
    const FusedAmp amp(opt, launch.device);
    // A skipped step (found_inf) leaves params and state untouched and rolls
    // the counters back (§9.2).
    const double skipped = amp.found_inf_value();
    // With a tensor lr the forloop rounds the decoupled decay factor 1 − γλ
    // in the lr's dtype; the kernel would form it in double. Decay first with
    // the forloop's factor, then run the kernel without decay.
    bool decay_here = h.decoupled && h.weight_decay != 0 && h.lr.is_tensor();
    if (decay_here && skipped == 0)
      for (std::size_t k : launch.members) params[k].param->mul_(decay_factor(h.lr, h.weight_decay));
    FusedAdamArgs args;
    args.lr = h.lr.to_double();
    args.beta1 = h.beta1;
    args.beta2 = h.beta2;
    args.weight_decay = decay_here ? 0.0 : h.weight_decay;
    args.eps = h.eps;
    args.amsgrad = h.amsgrad;
    args.maximize = h.maximize;
    args.decoupled_weight_decay = h.decoupled;
    args.amp = amp.kernel_inputs();
    backend_for(launch.device.type).fused_adam(launch.dtype, launch.tensors, args);
    if (skipped != 0)
      for (std::size_t k : launch.members) advance_step(*state[k].tensor[0], -skipped);
  }
}
}  // namespace

Adam::Adam(Params params, const AdamOptions& o) : Adam("Adam", std::move(params), o) {}

Adam::Adam(std::string name, Params params, const AdamOptions& o) : Optimizer(name, adam_defaults(o)) {
  validate(name, o);
  init_param_groups(std::move(params));
  check_fused_flags(name, o.foreach, o.fused, o.differentiable);
}

AdamW::AdamW(Params params, const AdamWOptions& o) : Adam("AdamW", std::move(params), from_adamw(o)) {}

void Adam::setstate_group_defaults(ParamGroup& group) {
  group.options.setdefault("amsgrad", false);
  group.options.setdefault("maximize", false);
  group.options.setdefault("foreach", Value());
  group.options.setdefault("capturable", false);
  group.options.setdefault("differentiable", false);
  group.options.setdefault("decoupled_weight_decay", false);
  group.options.setdefault("fused", Value());
}

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
    *step = full({}, value, {.dtype = get_default_dtype() == kFloat64 ? kFloat64 : kFloat32});
  }
}

void Adam::step_group(ParamGroup& group) {
  auto [beta1, beta2] = get_pair(group, "betas");
  Hyper h{group.at("lr"),
          beta1,
          beta2,
          get_double(group, "eps"),
          get_double(group, "weight_decay"),
          get_bool(group, "amsgrad"),
          get_bool(group, "maximize"),
          get_bool(group, "decoupled_weight_decay"),
          get_bool(group, "differentiable")};
  Implementation impl = choose_implementation(group);
  if (impl == Implementation::ForEach && h.lr.is_tensor() && !get_bool(group, "capturable"))
    raise<RuntimeError>(name(), ": lr as a Tensor is not supported for capturable=False and foreach=True");
  std::vector<ParamRef> params = params_with_grad(
      *this, group, "Adam does not support sparse gradients, please consider SparseAdam instead");
  if (params.empty()) return;
  if (get_bool(group, "capturable"))
    raise<RuntimeError>(
        name(),
        ": If capturable=True, params and state_steps must be on supported devices: ['cuda']; "
        "CPU tensors cannot be captured");
  // With neither flag set, the fused kernel runs where it gives the forloop's bits.
  const bool by_default = impl == Implementation::ForLoop && !get_optional_bool(group, "foreach") &&
                          !get_optional_bool(group, "fused") && default_to_fused(*this, group, params);
  if (by_default) impl = Implementation::Fused;
  std::vector<StateCache::Tensors> state = prepare(*this, state_cache(), group_index(*this, group), params, h,
                                                   impl == Implementation::Fused, impl == Implementation::Fused && !by_default);
  if (h.differentiable)
    for (const StateCache::Tensors& t : state)
      if (t.tensor[0]->requires_grad())
        raise<RuntimeError>(name(), ": `requires_grad` is not supported for `step` in differentiable mode");
  if (impl == Implementation::Fused) return adam_fused(*this, params, state, h);
  check_grads_fit(name(), params);
  check_no_amp_inputs(*this);
  std::vector<Buffers> all = buffers_of(params, state, h.amsgrad);
  if (impl == Implementation::ForEach) return adam_foreach(all, h);
  adam_forloop(all, h);
}

}  // namespace descent::optim
