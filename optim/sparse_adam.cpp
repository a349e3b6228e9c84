#include "descent/optim/sparse_adam.h"

#include <cmath>

#include "optim/common.h"
#include "optim/kwargs.h"
#include "optim/pointwise.h"
#include "optim/sparse_rows.h"

namespace descent::optim {

using namespace detail;

namespace {
void validate(const SparseAdamOptions& o) {
  // Unlike the other optimizers, lr and eps must be strictly positive.
  check_lr("SparseAdam", o.lr, true);
  if (!(o.eps.to_double() > 0)) raise<ValueError>("SparseAdam: Invalid epsilon value: ", o.eps.str(), " (must be > 0)");
  check_betas("SparseAdam", o.betas);
}

// PyTorch lists every offending param as [group, position], then raises.
void check_params(const Params& params) {
  std::string sparse, complex;
  for (std::size_t g = 0; g < params.groups.size(); ++g)
    for (std::size_t i = 0; i < params.groups[g].params.size(); ++i) {
      const Tensor& p = params.groups[g].params[i];
      if (!p.defined()) continue;  // the base reports it
      const std::string at = "[" + std::to_string(g) + ", " + std::to_string(i) + "]";
      if (p.is_sparse()) sparse += (sparse.empty() ? "" : ", ") + at;
      if (p.is_complex()) complex += (complex.empty() ? "" : ", ") + at;
    }
  if (!sparse.empty())
    raise<ValueError>("SparseAdam: Sparse params at indices [", sparse, "]: SparseAdam requires dense parameter tensors");
  if (!complex.empty())
    raise<ValueError>("SparseAdam: Complex params at indices [", complex,
                      "]: SparseAdam does not support complex parameters");
}

struct Hyper {
  Value lr;
  double beta1, beta2, eps;
  bool maximize;
};

// One param's update, in PyTorch's op order (torch/optim/_functional.py).
// grad: coalesced, maximize applied.
// The rows kernel (devices/optim_math/sparse_adam.h) runs the same ops in
// one pass where it applies.
void update(const Hyper& h, double step, Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq) {
  const double bias_correction1 = 1 - std::pow(h.beta1, step);
  const double bias_correction2 = 1 - std::pow(h.beta2, step);
  // A tensor lr makes this a tensor expression in the lr's dtype, as in PyTorch.
  const double step_size =
      lr_expression(h.lr, [&](auto lr) { return lr * std::sqrt(bias_correction2) / bias_correction1; });
  if (fused_rows_apply(param, grad, {exp_avg, exp_avg_sq}))
    return fused_rows_step(optim_math::kernel_id<optim_math::SparseAdam>(), param, grad, {exp_avg, exp_avg_sq},
                           {1 - h.beta1, 1 - h.beta2, h.eps}, {-step_size});
  const Tensor values = grad._values();
  const Tensor indices = grad._indices();
  auto sparse = [&](Tensor v) { return sparse_coo_tensor(indices, std::move(v), grad.sizes(), true); };
  const Tensor old_exp_avg = exp_avg.sparse_mask(grad)._values();
  Tensor exp_avg_update = values.sub(old_exp_avg).mul_(1 - h.beta1);
  exp_avg.add_(sparse(exp_avg_update));
  const Tensor old_exp_avg_sq = exp_avg_sq.sparse_mask(grad)._values();
  Tensor exp_avg_sq_update = values.square().sub_(old_exp_avg_sq).mul_(1 - h.beta2);
  exp_avg_sq.add_(sparse(exp_avg_sq_update));
  // The new moments at the indices, from the values in hand (no second sparse_mask).
  Tensor numer = exp_avg_update.add_(old_exp_avg);
  Tensor denom = exp_avg_sq_update.add_(old_exp_avg_sq).sqrt_().add_(h.eps);
  param.add_(sparse(numer.div_(denom).mul(-step_size)));
}
}  // namespace

SparseAdam::SparseAdam(Params params, const SparseAdamOptions& o)
    : Optimizer("SparseAdam", (validate(o), options_dict(o))) {
  check_params(params);
  init_param_groups(std::move(params));
}

void SparseAdam::step_group(ParamGroup& group) {
  const auto [beta1, beta2] = get_pair(group, "betas");
  const Value* maximize = group.options.find("maximize");  // older state dicts lack it
  const Hyper h{group.at("lr"), beta1, beta2, get_double(group, "eps"),
                maximize && maximize->to_bool()};
  std::vector<ParamRef> params = params_with_grad(*this, group, "");
  // Checked for every param before any changes.
  for (const ParamRef& r : params)
    if (!r.grad->is_sparse())
      raise<RuntimeError>("SparseAdam does not support dense gradients, please consider Adam instead");
  check_grads_fit(name(), params);
  for (const ParamRef& r : params) {
    Dict& st = state()[*r.param];
    if (st.empty()) {
      st.set("step", int64_t{0});
      st.set("exp_avg", zeros_like(r.param->detach()));
      st.set("exp_avg_sq", zeros_like(r.param->detach()));
    }
  }
  for (const ParamRef& r : params) {
    Dict& st = state()[*r.param];
    Value& step = st.at("step");
    step = Value(static_cast<int64_t>(step.to_double()) + 1);
    // The update is not linear in the grad: duplicate indices are summed first.
    const Tensor grad = maybe_negate(*r.grad, h.maximize).coalesce();
    // An empty grad changes nothing but the step count, as in PyTorch.
    if (grad._values().numel() == 0) continue;
    Tensor exp_avg = st.at("exp_avg").to_tensor(), exp_avg_sq = st.at("exp_avg_sq").to_tensor();
    update(h, step.to_double(), *r.param, grad, exp_avg, exp_avg_sq);
  }
}

}  // namespace descent::optim
