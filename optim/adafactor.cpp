#include "descent/optim/adafactor.h"

#include <cmath>

#include "descent/devices/backend.h"
#include "descent/tensor/foreach.h"
#include "devices/optim_math/kernels.h"
#include "optim/fused_launch.h"
#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {

void validate(const AdafactorOptions& o) {
  auto number = [](const char* what, const Value& v) {
    if (!v.is_number() && !v.is_tensor() && !v.is_bool())
      raise<TypeError>("Adafactor: ", what, " must be a number, got ", v.type_name(), " (", v.str(), ")");
    return v.to_double();
  };
  if (o.lr.is_tensor() && o.lr.to_tensor().numel() != 1)
    raise<ValueError>("Adafactor: Tensor lr must be 1-element (got shape ", shape_to_string(o.lr.to_tensor().sizes()),
                      ")");
  if (!(0.0 <= number("lr", o.lr))) raise<ValueError>("Adafactor: Learning rate should be >= 0 but is: ", o.lr.str());
  if (!(0.0 >= number("beta2_decay", o.beta2_decay)))
    raise<ValueError>("Adafactor: beta2_decay should be <= 0 but is: ", o.beta2_decay.str());
  if (!o.eps[0].is_none() && !(0.0 <= number("eps[0]", o.eps[0])))
    raise<ValueError>("Adafactor: epsilon1 should be >= 0 but is: ", o.eps[0].str());
  if (!(0.0 <= number("eps[1]", o.eps[1])))
    raise<ValueError>("Adafactor: epsilon2 should be >= 0 but is: ", o.eps[1].str());
  if (!(1.0 <= number("d", o.d)))
    raise<ValueError>("Adafactor: Clipping threshold d should be >= 1 but is: ", o.d.str());
  if (!(0.0 <= number("weight_decay", o.weight_decay)))
    raise<ValueError>("Adafactor: weight_decay should be >= 0 but is: ", o.weight_decay.str());
  check_fused_flags("Adafactor", o.foreach, o.fused, false);
}

// torch.finfo(dtype).eps
double machine_epsilon(Dtype dtype) {
  switch (dtype) {
    case kFloat16: return 0x1p-10;
    case kBFloat16: return 0x1p-7;
    case kFloat32: return 0x1p-23;
    case kFloat64: return 0x1p-52;
    default: raise<TypeError>("Adafactor: machine epsilon is defined for floating point dtypes only, got ", to_string(dtype));
  }
}

struct Hyper {
  Value lr;  // a number or a 0-dim tensor, as _to_scalar leaves it
  double beta2_decay, d, weight_decay, eps2;
  std::optional<double> eps1;
  bool maximize;
};

Hyper read(const ParamGroup& g) {
  const Value& eps = g.at("eps");
  if (!eps.is_list() || eps.to_list().items.size() != 2)
    raise<TypeError>("Adafactor: option 'eps' must be a pair (epsilon1, epsilon2), got ", eps.str());
  const Value& eps1 = eps.to_list().items[0];
  return {squeeze_scalar(g.at("lr")),
          get_double(g, "beta2_decay"),
          get_double(g, "d"),
          get_double(g, "weight_decay"),
          eps.to_list().items[1].to_double(),
          eps1.is_none() ? std::nullopt : std::optional<double>(eps1.to_double()),
          get_bool(g, "maximize")};
}

struct Slot {
  Tensor param, grad;  // grad: negated when maximizing
  Tensor step, row_var, col_var, variance;
};

// Python's `x ** 0.5` is pow, not sqrt: the same libm call keeps the same bits.
double root(double x) { return std::pow(x, 0.5); }

// RMS(θ) as PyTorch reads it: the norm as a host double over √numel.
double rms(const Tensor& t) { return t.norm(2.0).item<double>() / root(static_cast<double>(t.numel())); }

// The per-tensor host numbers of a step: the lerp weight and α. With a
// tensor lr, ρ = min(lr, 1/√t) is that tensor unless 1/√t is smaller, and α
// is then tensor arithmetic in the lr's dtype.
struct StepScalars {
  double weight;
  Value alpha;  // a double, or a 0-dim tensor
};
StepScalars step_scalars(const Hyper& h, double t, const Tensor& param) {
  const double inv_root = 1 / root(t);
  const double scale = std::max(h.eps2, rms(param));
  const double weight = std::pow(t, h.beta2_decay);
  if (!h.lr.is_tensor()) return {weight, scale * std::min(h.lr.to_double(), inv_root)};
  const Tensor& lr = h.lr.to_tensor().detach();
  if (lr.gt(inv_root).item<bool>()) return {weight, scale * inv_root};
  return {weight, lr.mul(scale)};
}

// −α / max(1, RMS(U)/d): the multiplier of the update, as the double add_ receives.
double update_multiplier(const Value& alpha, const Tensor& update, double d) {
  const double den = std::max(1.0, update.norm(2.0).item<double>() / (root(static_cast<double>(update.numel())) * d));
  if (alpha.is_tensor()) return alpha.to_tensor().neg().div(den).item<double>();
  return -alpha.to_double() / den;
}

double decay_factor(const Hyper& h) {
  return lr_expression(h.lr, [&](auto lr) { return 1 - lr * h.weight_decay; });
}

// mean(g², dim), keepdim, through the norm as PyTorch does (g² is never formed).
Tensor mean_square(const Tensor& grad, int64_t dim) {
  Tensor m = grad.norm(2.0, {dim}, true);
  return m.mul_(m).div_(grad.sizes()[static_cast<std::size_t>(grad.dim() + dim)]);
}

void forloop(std::vector<Slot>& slots, const Hyper& h) {
  std::optional<double> eps1 = h.eps1;
  for (Slot& s : slots) {
    if (!eps1) eps1 = machine_epsilon(s.param.dtype());
    const StepScalars k = step_scalars(h, advance_step(s.step, 1), s.param);
    if (h.weight_decay != 0) s.param.mul_(decay_factor(h));
    Tensor var;
    if (s.grad.dim() > 1) {
      s.row_var.lerp_(mean_square(s.grad, -1), k.weight);
      s.col_var.lerp_(mean_square(s.grad, -2), k.weight);
      var = s.row_var.matmul(s.col_var);
      var.div_(s.row_var.mean({-2}, true).clamp_min_(*eps1));
    } else {
      s.variance.lerp_(s.grad * s.grad, k.weight);
      var = s.variance.clone();  // the update must not write into the state
    }
    Tensor update = var.clamp_min_(*eps1 * *eps1).rsqrt_();
    update.mul_(s.grad);
    s.param.add_(update, update_multiplier(k.alpha, update, h.d));
  }
}

// PyTorch's _group_tensors_by_device_and_dtype returns its (device, dtype)
// groups from an unordered map; with two keys, as far as that order is
// observable, the key seen last comes first. ε1 = None takes that group's
// epsilon for every bucket (PyTorch sets it once and keeps it).
double foreach_epsilon(const std::vector<Slot>& slots, const std::vector<std::vector<std::size_t>>& groups) {
  return machine_epsilon(slots[groups.back().front()].param.dtype());
}

// Op-major over each (device, dtype, dim > 1) bucket, as PyTorch's foreach:
// the same ops as the forloop except the last, α/den·U then θ + that, two
// roundings where the forloop's add_ has one.
void foreach(std::vector<Slot>& slots, const Hyper& h) {
  const std::vector<std::vector<std::size_t>> groups = buckets(slots);
  const double eps1 = h.eps1 ? *h.eps1 : foreach_epsilon(slots, groups);
  for (const std::vector<std::size_t>& group : groups)
    for (bool multidim : {true, false}) {
      TensorList params, grads, row_vars, col_vars, variances;
      std::vector<Slot*> bucket;
      for (std::size_t i : group)
        if ((slots[i].grad.dim() > 1) == multidim) {
          Slot& s = slots[i];
          bucket.push_back(&s);
          params.push_back(s.param);
          grads.push_back(s.grad);
          (multidim ? row_vars : variances).push_back(multidim ? s.row_var : s.variance);
          if (multidim) col_vars.push_back(s.col_var);
        }
      if (bucket.empty()) continue;
      std::vector<Scalar> weights;
      std::vector<Value> alphas;
      for (Slot* s : bucket) {
        const StepScalars k = step_scalars(h, advance_step(s->step, 1), s->param);
        weights.emplace_back(k.weight);
        alphas.push_back(k.alpha);
      }
      if (h.weight_decay != 0) _foreach_mul_(params, decay_factor(h));
      TensorList vars;
      if (multidim) {
        for (auto [dim, factors] : {std::pair{-1, &row_vars}, std::pair{-2, &col_vars}}) {
          TensorList means;
          for (const Tensor& g : grads) means.push_back(g.norm(2.0, {dim}, true));
          _foreach_mul_(means, means);
          std::vector<Scalar> sizes;
          for (const Tensor& g : grads) sizes.emplace_back(g.sizes()[static_cast<std::size_t>(g.dim() + dim)]);
          _foreach_div_(means, sizes);
          _foreach_lerp_(*factors, means, weights);
        }
        TensorList row_means;
        for (std::size_t i = 0; i < bucket.size(); ++i) {
          vars.push_back(row_vars[i].matmul(col_vars[i]));
          row_means.push_back(row_vars[i].mean({-2}, true));
        }
        _foreach_clamp_min_(row_means, eps1);
        _foreach_div_(vars, row_means);
      } else {
        TensorList squares = _foreach_mul(grads, grads);
        _foreach_lerp_(variances, squares, weights);
        for (const Tensor& v : variances) vars.push_back(v.clone());
      }
      _foreach_clamp_min_(vars, eps1 * eps1);
      _foreach_rsqrt_(vars);
      _foreach_mul_(vars, grads);
      std::vector<Scalar> multipliers;
      for (std::size_t i = 0; i < bucket.size(); ++i)
        multipliers.emplace_back(update_multiplier(alphas[i], vars[i], h.d));
      _foreach_mul_(vars, multipliers);
      _foreach_add_(params, vars);
    }
}

// fused=True (a deliberate extension): the forloop's reductions and factor
// updates as the same tensor ops, then per batch of params one
// AdafactorUpdate launch writing U (factored and unfactored apart), RMS(U)
// per param through the same norm, and one AdafactorApply launch. Every
// rounding is the forloop's, so float32 and float64 give its bits; ε1 = None
// follows the forloop's rule (the first param's dtype). A batch is params of
// one (device, dtype) whose U together are no larger than the largest param:
// the step holds no more memory than the forloop's (each param counted with
// the small tensors a batch keeps for it: its matrix means and a tensor α).
void fused_batch(std::vector<Slot>& slots, const std::vector<std::size_t>& batch, const Hyper& h, double eps1) {
  using optim_math::AdafactorApply;
  using optim_math::AdafactorUpdate;
  std::vector<Tensor> updates, matrix_means;  // alive until the launches ran
  std::vector<Value> alphas;
  std::vector<FusedTensor> factored, unfactored, apply;
  for (std::size_t i : batch) {
    Slot& s = slots[i];
    const StepScalars k = step_scalars(h, advance_step(s.step, 1), s.param);
    alphas.push_back(k.alpha);
    FusedTensor t;
    if (s.grad.dim() > 1) {
      s.row_var.lerp_(mean_square(s.grad, -1), k.weight);
      s.col_var.lerp_(mean_square(s.grad, -2), k.weight);
      matrix_means.push_back(s.row_var.mean({-2}, true).clamp_min_(eps1));
      const Shape& shape = s.grad.sizes();
      t.broadcast = {s.row_var.data_ptr(), s.col_var.data_ptr(), matrix_means.back().data_ptr(),
                     shape[shape.size() - 2], shape.back()};
    } else {
      t.state[AdafactorUpdate::variance] = s.variance.data_ptr();
      t.scalars[AdafactorUpdate::weight] = k.weight;
      s.variance.bump_version();
    }
    // U after the reductions' temporaries are gone, as the forloop's V.
    updates.push_back(empty_like(s.param));
    t.param = updates.back().data_ptr();
    t.grad = s.grad.data_ptr();
    t.numel = s.param.numel();
    (s.grad.dim() > 1 ? factored : unfactored).push_back(t);
    FusedTensor a;
    a.param = s.param.data_ptr();
    a.grad = t.param;
    a.numel = t.numel;
    apply.push_back(a);
    s.param.bump_version();
  }
  const Tensor& first = slots[batch.front()].param;
  Backend& backend = backend_for(first.device().type);
  for (bool is_factored : {true, false}) {
    const std::vector<FusedTensor>& tensors = is_factored ? factored : unfactored;
    if (tensors.empty()) continue;
    FusedPointwiseArgs args;
    args.kernel = optim_math::kernel_id<AdafactorUpdate>();
    args.flags = optim_math::when(!is_factored, AdafactorUpdate::kUnfactored);
    args.scalars[AdafactorUpdate::eps1_squared] = eps1 * eps1;
    backend.fused_pointwise(first.dtype(), tensors, args);
  }
  matrix_means.clear();
  for (std::size_t j = 0; j < batch.size(); ++j)
    apply[j].scalars[AdafactorApply::multiplier] = update_multiplier(alphas[j], updates[j], h.d);
  FusedPointwiseArgs args;
  args.kernel = optim_math::kernel_id<AdafactorApply>();
  args.flags = optim_math::when(h.weight_decay != 0, AdafactorApply::kWeightDecay);
  if (h.weight_decay != 0) args.scalars[AdafactorApply::decay] = decay_factor(h);
  backend.fused_pointwise(first.dtype(), apply, args);
}

// The elements a batch holds for a param: U, its matrix means and α.
int64_t held_elements(const Slot& s) {
  const int64_t n = s.param.numel();
  if (s.param.dim() < 2) return n + 1;
  const Shape& shape = s.param.sizes();
  const int64_t matrix = shape.back() * shape[shape.size() - 2];
  return n + (matrix == 0 ? 0 : n / matrix) + 1;
}

void fused(std::vector<Slot>& slots, const Hyper& h) {
  const double eps1 = h.eps1 ? *h.eps1 : machine_epsilon(slots.front().param.dtype());
  int64_t largest = 0;
  for (const Slot& s : slots) largest = std::max(largest, s.param.numel());
  for (const std::vector<std::size_t>& group : buckets(slots)) {
    std::vector<std::size_t> batch;
    int64_t held = 0;
    for (std::size_t i : group) {
      const int64_t n = held_elements(slots[i]);
      if (!batch.empty() && held + n > largest) {
        fused_batch(slots, batch, h, eps1);
        batch.clear();
        held = 0;
      }
      batch.push_back(i);
      held += n;
    }
    if (!batch.empty()) fused_batch(slots, batch, h, eps1);
  }
}

// fused=True reads each state tensor through raw pointers (the params and
// grads were checked before any state was made): each contiguous, of the
// param's dtype and device and of the shape the step writes — the forloop's
// ops would check that themselves.
void check_fused_state(const ParamRef& r, const Slot& s) {
  auto check = [&](const Tensor& state, const char* key, const Shape& shape) {
    if (!state.is_contiguous() || state.dtype() != s.param.dtype() || state.device() != s.param.device() ||
        state.sizes() != shape)
      raise<RuntimeError>("Adafactor: `fused=True` needs each param's ", key,
                          " to be a contiguous tensor of its dtype and device, of shape ", shape_to_string(shape),
                          ", but parameter ", r.index, " is ", to_string(s.param.dtype()), " on ",
                          s.param.device().str(), " and its ", key, " is ", to_string(state.dtype()), " ",
                          shape_to_string(state.sizes()), " on ", state.device().str());
  };
  const Shape& shape = s.param.sizes();
  if (s.param.dim() > 1) {
    check(s.row_var, "row_var", state_shape(StateShape::Rows, shape));
    check(s.col_var, "col_var", state_shape(StateShape::Columns, shape));
  } else {
    check(s.variance, "variance", shape);
  }
}

// A started state has its step and the second moment the step_group makes:
// factored into row and column means for a param of 2 dims or more, else
// like the param.
std::vector<PointwiseOptimizer::StateEntry> state_entries(const ParamGroup&, const Tensor& param) {
  if (param.dim() > 1)
    return {{"step", StateShape::Scalar, true},
            {"row_var", StateShape::Rows, true},
            {"col_var", StateShape::Columns, true}};
  return {{"step", StateShape::Scalar, true}, {"variance", StateShape::LikeParam, true}};
}

}  // namespace

Adafactor::Adafactor(Params params, const AdafactorOptions& o)
    : PointwiseOptimizer("Adafactor", (validate(o), options_dict(o)),
                         {&validate_group_options<AdafactorOptions, &validate>, &state_entries,
                          options_dict(AdafactorOptions{})}) {
  init_param_groups(std::move(params));
}

void Adafactor::step_group(ParamGroup& group) {
  const Hyper h = read(group);
  std::vector<ParamRef> refs = params_with_grad(*this, group, "");
  if (refs.empty()) return;
  // Every check before anything changes: a step that raises leaves no trace.
  check_real_dense("Adafactor", refs);
  const bool use_fused = get_optional_bool(group, "fused").value_or(false);
  if (use_fused) {
    // The fused path's own checks, in the words of the other fused optimizers.
    check_fused_params("Adafactor", refs);
    for (const ParamRef& r : refs)
      if (!impl::same_dense_layout(*r.param_impl, *r.grad_impl))
        raise_layout_mismatch("Adafactor", *r.param_impl, *r.grad_impl, "grad");
  } else {
    check_grads_fit("Adafactor", refs);
  }
  if (grad_scale.defined() || found_inf.defined())
    raise<RuntimeError>("Adafactor: Grad scaling should occur outside of optimizer.step()");
  std::vector<Slot> slots;
  for (const ParamRef& r : refs) {
    Dict& state = this->state()[*r.param];
    const Tensor& grad = *r.grad;
    if (state.empty()) {
      state.set("step", new_step_counter(*r.param, false));
      if (grad.dim() > 1) {
        const TensorOptions like_grad{.dtype = grad.dtype(), .device = grad.device()};
        state.set("row_var", zeros(state_shape(StateShape::Rows, grad.sizes()), like_grad));
        state.set("col_var", zeros(state_shape(StateShape::Columns, grad.sizes()), like_grad));
      } else {
        state.set("variance", zeros_like(grad));
      }
    }
    auto slot_tensor = [&](const char* key) {
      const Value* v = state.find(key);
      if (!v || !v->is_tensor() || !v->to_tensor().defined())
        raise<RuntimeError>("Adafactor: the state of parameter ", r.index, " has no tensor '", key, "'");
      return v->to_tensor();
    };
    Slot s{*r.param, maybe_negate(grad, h.maximize), slot_tensor("step"), {}, {}, {}};
    if (s.step.numel() != 1)
      raise<RuntimeError>("Adafactor: the step counter of parameter ", r.index, " has ", s.step.numel(),
                          " elements (must be one)");
    if (grad.dim() > 1) {
      s.row_var = slot_tensor("row_var");
      s.col_var = slot_tensor("col_var");
    } else {
      s.variance = slot_tensor("variance");
    }
    slots.push_back(std::move(s));
  }
  if (use_fused) {
    for (std::size_t i = 0; i < slots.size(); ++i) check_fused_state(refs[i], slots[i]);
    return fused(slots, h);
  }
  if (get_optional_bool(group, "foreach").value_or(false)) return foreach(slots, h);
  forloop(slots, h);
}

}  // namespace descent::optim
