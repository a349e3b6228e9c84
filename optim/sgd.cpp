#include "descent/optim/sgd.h"

#include "descent/tensor/foreach.h"
#include "optim/common.h"

namespace descent::optim {

using namespace detail;

SGD::SGD(Params params, const SGDOptions& o)
    : Optimizer("SGD", Dict{{"lr", squeeze_scalar(o.lr)},
                            {"momentum", o.momentum},
                            {"dampening", o.dampening},
                            {"weight_decay", o.weight_decay},
                            {"nesterov", o.nesterov},
                            {"maximize", o.maximize},
                            {"foreach", o.foreach},
                            {"differentiable", o.differentiable},
                            {"fused", o.fused}}) {
  check_lr("SGD", o.lr);
  check_non_negative("SGD", "momentum", o.momentum);
  check_non_negative("SGD", "weight_decay", o.weight_decay);
  if (o.nesterov && (o.momentum.to_double() <= 0 || o.dampening.to_double() != 0))
    raise<ValueError>("SGD: Nesterov momentum requires a momentum and zero dampening (got momentum ", o.momentum.str(),
                      ", dampening ", o.dampening.str(), ")");
  init_param_groups(std::move(params));
  check_fused_flags("SGD", o.foreach, o.fused, o.differentiable);
}

void SGD::setstate_group_defaults(ParamGroup& group) {
  group.options.setdefault("nesterov", false);
  group.options.setdefault("maximize", false);
  group.options.setdefault("foreach", Value());
  group.options.setdefault("differentiable", false);
  group.options.setdefault("fused", false);
}

namespace {
struct Hyper {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};

void sgd_forloop(std::vector<ParamSlot>& slots, const Hyper& h) {
  for (ParamSlot& s : slots) {
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

// Op-major over each (device, dtype) bucket; same arithmetic as the forloop.
void sgd_foreach(std::vector<ParamSlot>& slots, const Hyper& h) {
  for (const auto& bucket : buckets(slots)) {
    TensorList params, grads;
    bool sparse = false;
    for (ParamSlot* s : bucket) {
      params.push_back(s->param);
      grads.push_back(s->grad);
      sparse = sparse || s->grad.is_sparse();
    }
    if (sparse) {
      // Sparse grads have no multi-tensor kernels: fall back per tensor.
      std::vector<ParamSlot> single;
      for (ParamSlot* s : bucket) single.push_back(*s);
      sgd_forloop(single, h);
      continue;
    }
    if (h.maximize) grads = _foreach_neg(grads);
    if (h.weight_decay != 0) grads = _foreach_add(grads, params, h.weight_decay);
    if (h.momentum != 0) {
      TensorList bufs;
      bool all_have_buffers = true;
      for (ParamSlot* s : bucket) {
        const Value* b = s->state->find("momentum_buffer");
        all_have_buffers = all_have_buffers && b && !b->is_none();
      }
      if (all_have_buffers) {
        for (ParamSlot* s : bucket) bufs.push_back(s->state->at("momentum_buffer").to_tensor());
        _foreach_mul_(bufs, h.momentum);
        _foreach_add_(bufs, grads, 1 - h.dampening);
      } else {
        for (std::size_t i = 0; i < bucket.size(); ++i) {
          Value* b = bucket[i]->state->find("momentum_buffer");
          Tensor buf;
          if (!b || b->is_none()) {
            buf = grads[i].detach().clone();
            bucket[i]->state->set("momentum_buffer", buf);
          } else {
            buf = b->to_tensor();
            buf.mul_(h.momentum).add_(grads[i], 1 - h.dampening);
          }
          bufs.push_back(buf);
        }
      }
      grads = h.nesterov ? _foreach_add(grads, bufs, h.momentum) : bufs;
    }
    _foreach_add_(params, grads, -h.lr);
  }
}

void sgd_fused(Optimizer& opt, std::vector<ParamSlot>& slots, const Hyper& h) {
  check_fused_params("SGD", slots);
  for (const ParamSlot& s : slots)
    if (s.grad.is_sparse()) raise<RuntimeError>("SGD: `fused` does not support sparse gradients");
  for (const auto& bucket : buckets(slots)) {
    Device device = bucket[0]->param.device();
    // A param without a momentum buffer starts it from its grad, as in the
    // forloop, also when others of the group already have one: those go in
    // a launch of their own with is_first_step set.
    std::vector<FusedTensor> launches[2];
    std::vector<ParamSlot*> fresh;
    for (ParamSlot* s : bucket) {
      FusedTensor t;
      t.param = s->param.data_ptr();
      t.grad = s->grad.data_ptr();
      t.numel = s->param.numel();
      bool first = false;
      if (h.momentum != 0) {
        Value& b = (*s->state)["momentum_buffer"];
        if (b.is_none()) {
          b = empty_like(s->param);
          first = true;
          fresh.push_back(s);
        }
        t.state[0] = b.to_tensor().data_ptr();
        b.to_tensor().bump_version();
      }
      launches[first].push_back(t);
      // Bumped now, while the tensors are in cache (see adam.cpp).
      s->param.bump_version();
      if (opt.grad_scale.defined()) s->grad.bump_version();
    }
    const FusedAmp amp(opt, device);
    for (bool first : {false, true}) {
      if (launches[first].empty()) continue;
      FusedSgdArgs args{h.lr, h.momentum, h.dampening, h.weight_decay, h.nesterov, h.maximize, first,
                        amp.kernel_inputs()};
      backend_for(device.type).fused_sgd(bucket[0]->param.dtype(), launches[first], args);
    }
    // A skipped step leaves no uninitialised buffer behind: the next step
    // would read it as momentum (state untouched, optimizer-base.md §9.2).
    if (amp.found_inf_value() != 0)
      for (ParamSlot* s : fresh) s->state->erase("momentum_buffer");
  }
}
}  // namespace

void SGD::step_group(ParamGroup& group) {
  Hyper h{get_scalar(group, "lr"),        get_double(group, "momentum"), get_double(group, "dampening"),
          get_double(group, "weight_decay"), get_bool(group, "nesterov"),  get_bool(group, "maximize")};
  std::vector<ParamSlot> slots = collect(*this, group, "", h.momentum != 0);
  if (slots.empty()) return;
  switch (choose_implementation(group)) {
    case Implementation::Fused: return sgd_fused(*this, slots, h);
    case Implementation::ForEach: check_no_amp_inputs(*this); return sgd_foreach(slots, h);
    case Implementation::ForLoop: check_no_amp_inputs(*this); return sgd_forloop(slots, h);
  }
}

}  // namespace descent::optim
