#include "descent/optim/adagrad.h"

#include <complex>

#include "optim/kwargs.h"
#include "optim/pointwise.h"
#include "optim/sparse_rows.h"

namespace descent::optim {

using namespace detail;

namespace {
// `sum` starts at initial_accumulator_value (v + v·i for a complex param).
Tensor initial_sum(const Tensor& param, double value) {
  if (param.is_complex()) return full_like(param, Scalar(std::complex<double>(value, value)));
  return full_like(param, value);
}

struct AdagradDefinition : PointwiseDefinition {
  using Math = optim_math::Adagrad;
  static constexpr const char* name = "Adagrad";
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"sum"};

  struct Hyper {
    Value lr;
    double lr_decay, weight_decay, initial_accumulator_value, eps;
    bool maximize;
    // Neither foreach nor fused given: sparse grads take the rows kernel
    // (descent's default, as for dense grads); foreach=False keeps the op chain.
    bool default_impl;
  };
  static Hyper read(const ParamGroup& g) {
    return {g.at("lr"),          get_double(g, "lr_decay"),
            get_double(g, "weight_decay"), get_double(g, "initial_accumulator_value"),
            get_double(g, "eps"),  get_bool(g, "maximize"),
            !get_optional_bool(g, "foreach") && !get_optional_bool(g, "fused")};
  }
  static unsigned flags(const Hyper& h) {
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) { return {h.weight_decay, 1.0, h.eps}; }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper& h, double step, Tensor* const*) {
    const double decay = 1 + (step - 1) * h.lr_decay;
    return {lr_expression(h.lr, [&](auto lr) { return -(lr / decay); })};
  }
  static void check_sparse(const Hyper& h) {
    if (h.weight_decay != 0)
      raise<RuntimeError>("Adagrad: weight_decay option is not compatible with sparse gradients (weight_decay=",
                          h.weight_decay, ")");
  }
  // Only the entries the grad holds change, in `sum` and in the param.
  static void sparse_update(const Hyper& h, double step, Tensor& param, const Tensor& raw_grad, Tensor* const* s) {
    // The update is not linear in the grad: duplicate indices are summed first.
    const Tensor grad = maybe_negate(raw_grad, h.maximize).coalesce();
    const double decay = 1 + (step - 1) * h.lr_decay;
    const double clr = lr_expression(h.lr, [&](auto lr) { return lr / decay; });
    auto sparse = [&](Tensor values) {
      return sparse_coo_tensor(grad._indices(), std::move(values), grad.sizes(), true);
    };
    if (h.default_impl && fused_rows_apply(param, grad, {*s[Math::sum]}))
      return fused_rows_step(optim_math::kernel_id<optim_math::SparseAdagrad>(), param, grad, {*s[Math::sum]},
                             {h.eps}, {-clr});
    const Tensor values = grad._values();
    s[Math::sum]->add_(sparse(values.square()));
    const Tensor std_values = s[Math::sum]->sparse_mask(grad)._values().sqrt_().add_(h.eps);
    param.add_(sparse(values / std_values), -clr);
  }
  // A param added after construction starts its state on its first step.
  static Tensor init_slot(std::size_t, const Hyper& h, const Tensor& param, const Tensor&) {
    return initial_sum(param, h.initial_accumulator_value);
  }
};

void validate(const AdagradOptions& o) {
  check_lr("Adagrad", o.lr);
  check_non_negative("Adagrad", "lr_decay", o.lr_decay);
  check_non_negative("Adagrad", "weight_decay", o.weight_decay);
  check_non_negative("Adagrad", "initial_accumulator_value", o.initial_accumulator_value);
  check_non_negative("Adagrad", "epsilon", o.eps);
}
}  // namespace

Adagrad::Adagrad(Params params, const AdagradOptions& o)
    : PointwiseOptimizer("Adagrad", (validate(o), options_dict(o)), declaration<AdagradDefinition, AdagradOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("Adagrad", o.foreach, o.fused, o.differentiable);
  // PyTorch creates Adagrad's state at construction, for every param.
  for (const ParamGroup& group : param_groups())
    for (const Tensor& p : group.params) {
      Dict& st = state()[p];
      st.set("step", new_step_counter(p, false));
      st.set("sum", initial_sum(p.detach(), get_double(group, "initial_accumulator_value")));
    }
}

void Adagrad::step_group(ParamGroup& group) { pointwise_step<AdagradDefinition>(*this, state_cache(), group); }

}  // namespace descent::optim
