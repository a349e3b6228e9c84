#include "descent/optim/sgd.h"

#include "descent/tensor/foreach.h"
#include "optim/common.h"
#include "optim/fused_launch.h"
#include "optim/state_cache.h"

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
    raise<ValueError>("SGD: Nesterov momentum requires a momentum and zero dampening (got momentum ",
                      o.momentum.str(), ", dampening ", o.dampening.str(), ")");
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
void sgd_foreach(std::vector<ParamSlot>& all, const Hyper& h) {
  for (const auto& indices : buckets(all)) {
    std::vector<ParamSlot*> bucket;
    for (std::size_t i : indices) bucket.push_back(&all[i]);
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

void sgd_fused(Optimizer& opt, StateCache& cache, std::size_t group_index,
               const std::vector<ParamRef>& params, const Hyper& h) {
  check_fused_params("SGD", params);
  for (const ParamRef& r : params)
    if (r.grad->is_sparse()) raise<RuntimeError>("SGD: `fused` does not support sparse gradients");
  // A param without a momentum buffer starts it from its grad, as in the
  // forloop, also when others of the group already have one: those go in
  // a launch of their own (kind 1) with is_first_step set.
  std::vector<bool> first(params.size(), false);
  std::vector<StateCache::Tensors> state(params.size());
  if (h.momentum != 0) {
    static const std::vector<std::string> keys{"momentum_buffer"};
    auto init = [&](Dict& st, std::size_t k) {
      Value& b = st["momentum_buffer"];
      if (b.is_none()) {
        b = empty_like(*params[k].param);
        first[k] = true;
      }
    };
    state = cache.resolve(opt.state(), group_index, params, keys, init);
  }
  std::vector<FusedParam> fused;
  fused.reserve(params.size());
  for (std::size_t k = 0; k < params.size(); ++k)
    fused.push_back({params[k].param_impl, params[k].grad_impl, {state[k].impl[0], nullptr, nullptr}});
  auto kind_of = [&](std::size_t k) { return first[k] ? 1 : 0; };
  auto nothing_more = [](std::size_t, double, FusedTensor&) {};
  for (const FusedLaunch& launch : build_fused_launches("SGD", fused, {"momentum_buffer", "", ""},
                                                        opt.grad_scale.defined(), kind_of, nothing_more)) {
    const FusedAmp amp(opt, launch.device);
    FusedSgdArgs args{h.lr,       h.momentum, h.dampening,      h.weight_decay,
                      h.nesterov, h.maximize, launch.kind == 1, amp.kernel_inputs()};
    backend_for(launch.device.type).fused_sgd(launch.dtype, launch.tensors, args);
    // A skipped step leaves no uninitialised buffer behind: the next step
    // would read it as momentum (state untouched, optimizer-base.md §9.2).
    if (launch.kind == 1 && amp.found_inf_value() != 0)
      for (std::size_t k : launch.members) opt.state()[*params[k].param].erase("momentum_buffer");
  }
}
}  // namespace

void SGD::step_group(ParamGroup& group) {
  Hyper h{get_scalar(group, "lr"),           get_double(group, "momentum"), get_double(group, "dampening"),
          get_double(group, "weight_decay"), get_bool(group, "nesterov"),   get_bool(group, "maximize")};
  Implementation impl = choose_implementation(group);
  const bool unset = !get_optional_bool(group, "foreach") && !get_optional_bool(group, "fused");
  if (impl == Implementation::Fused || unset) {
    std::vector<ParamRef> params = params_with_grad(*this, group, "");
    // With neither flag set, the fused kernel runs where it gives the forloop's bits.
    if (impl == Implementation::Fused || (!params.empty() && default_to_fused(*this, group, params))) {
      if (!params.empty()) sgd_fused(*this, state_cache(), group_index(*this, group), params, h);
      return;
    }
  }
  std::vector<ParamSlot> slots = collect(*this, group, "", h.momentum != 0);
  if (slots.empty()) return;
  check_no_amp_inputs(*this);
  if (impl == Implementation::ForEach) return sgd_foreach(slots, h);
  sgd_forloop(slots, h);
}

}  // namespace descent::optim
