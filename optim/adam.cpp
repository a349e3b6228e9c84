#include "descent/optim/adam.h"

#include <cmath>

#include "descent/tensor/foreach.h"
#include "optim/common.h"

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
      raise<ValueError>(name, ": betas[", i, "] as a Tensor is not supported for capturable=False and foreach=True");
}

AdamOptions from_adamw(const AdamWOptions& o) {
  return {o.lr, o.betas, o.eps, o.weight_decay, o.amsgrad, o.foreach, o.maximize, o.capturable, o.differentiable, o.fused,
          true};
}

struct Hyper {
  Value lr;  // number or tensor: a tensor lr computes step sizes in its own dtype
  double beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled, differentiable;
};

// One param's tensors for this step: references into its slot and its state
// Dict (taken after every insertion, so they stay valid for the step).
struct Buffers {
  Tensor& param;
  Tensor& grad;
  Tensor& exp_avg;
  Tensor& exp_avg_sq;
  Tensor* max_exp_avg_sq;  // null without amsgrad
  Tensor& step;
};

// Lazily creates the state of a param (complex state keeps the complex dtype).
Buffers prepare(ParamSlot& s, const Hyper& h, bool fused) {
  Dict& st = *s.state;
  if (st.empty()) {
    st.set("step", new_step_counter(s.param, fused));
    st.set("exp_avg", zeros_like(s.param));
    st.set("exp_avg_sq", zeros_like(s.param));
  }
  if (h.amsgrad) st.setdefault("max_exp_avg_sq", zeros_like(s.param));
  return {s.param,
          s.grad,
          st.at("exp_avg").to_tensor(),
          st.at("exp_avg_sq").to_tensor(),
          h.amsgrad ? &st.at("max_exp_avg_sq").to_tensor() : nullptr,
          st.at("step").to_tensor()};
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
// all[i] belongs to slots[i].
void adam_foreach(std::vector<ParamSlot>& slots, std::vector<Buffers>& all, const Hyper& h) {
  for (const auto& bucket : buckets(slots)) {
    TensorList params, grads, exp_avgs, exp_avg_sqs, vmaxes, steps;
    for (ParamSlot* s : bucket) {
      const Buffers& b = all[static_cast<std::size_t>(s - slots.data())];
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

void adam_fused(Optimizer& opt, std::vector<ParamSlot>& slots, std::vector<Buffers>& all, const Hyper& h) {
  for (const auto& bucket : buckets(slots)) {
    Device device = bucket[0]->param.device();
    const FusedAmp amp(opt, device);
    std::vector<FusedTensor> tensors;
    std::vector<Buffers*> members;
    double last_step = 0, step_size_at_t = 0, bias_correction2_sqrt_at_t = 0;
    for (ParamSlot* s : bucket) {
      Buffers& b = all[static_cast<std::size_t>(s - slots.data())];
      members.push_back(&b);
      double t = advance_step(b.step, 1);
      FusedTensor ft;
      ft.param = b.param.data_ptr();
      ft.grad = b.grad.data_ptr();
      ft.state = {b.exp_avg.data_ptr(), b.exp_avg_sq.data_ptr(), h.amsgrad ? b.max_exp_avg_sq->data_ptr() : nullptr};
      ft.numel = b.param.numel();
      // Versions are bumped now rather than after the kernel, while these
      // tensors are still in cache: with many small params that matters.
      for (const Tensor* t : {&b.param, &b.exp_avg, &b.exp_avg_sq, b.max_exp_avg_sq})
        if (t != nullptr) t->bump_version();
      if (amp.grad_scale.defined()) b.grad.bump_version();
      // Parameters usually share their step: the corrections are computed once per value.
      if (tensors.empty() || t != last_step) {
        last_step = t;
        step_size_at_t = step_size(h.lr, 1 - std::pow(h.beta1, t));
        bias_correction2_sqrt_at_t = std::pow(1 - std::pow(h.beta2, t), 0.5);
      }
      ft.step_size = step_size_at_t;
      ft.bias_correction2_sqrt = bias_correction2_sqrt_at_t;
      tensors.push_back(ft);
    }
    // A skipped step (found_inf) leaves params and state untouched and rolls
    // the counters back (§9.2).
    const double skipped = amp.found_inf_value();
    // With a tensor lr the forloop rounds the decoupled decay factor 1 − γλ
    // in the lr's dtype; the kernel would form it in double. Decay first with
    // the forloop's factor, then run the kernel without decay.
    bool decay_here = h.decoupled && h.weight_decay != 0 && h.lr.is_tensor();
    if (decay_here && skipped == 0)
      for (Buffers* b : members) b->param.mul_(decay_factor(h.lr, h.weight_decay));
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
    backend_for(device.type).fused_adam(bucket[0]->param.dtype(), tensors, args);
    if (skipped != 0)
      for (Buffers* b : members) advance_step(b->step, -skipped);
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
    *step = full({}, value, {.dtype = fused ? kFloat32 : (get_default_dtype() == kFloat64 ? kFloat64 : kFloat32),
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
  std::vector<ParamSlot> slots =
      collect(*this, group, "Adam does not support sparse gradients, please consider SparseAdam instead");
  if (slots.empty()) return;
  if (get_bool(group, "capturable"))
    raise<RuntimeError>(name(), ": If capturable=True, params and state_steps must be on supported devices: ['cuda']; "
                                "CPU tensors cannot be captured");
  if (impl == Implementation::Fused) check_fused_params(name(), slots);
  std::vector<Buffers> all;
  all.reserve(slots.size());
  for (ParamSlot& s : slots) all.push_back(prepare(s, h, impl == Implementation::Fused));
  if (h.differentiable)
    for (const Buffers& b : all)
      if (b.step.requires_grad())
        raise<RuntimeError>(name(), ": `requires_grad` is not supported for `step` in differentiable mode");
  switch (impl) {
    case Implementation::Fused: return adam_fused(*this, slots, all, h);
    case Implementation::ForEach: check_no_amp_inputs(*this); return adam_foreach(slots, all, h);
    case Implementation::ForLoop: check_no_amp_inputs(*this); return adam_forloop(all, h);
  }
}

}  // namespace descent::optim
