#include "descent/optim/asgd.h"

#include <algorithm>
#include <cmath>

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct ASGDDefinition : PointwiseDefinition {
  using Math = optim_math::ASGD;
  static constexpr const char* name = "ASGD";
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"ax"};
  static constexpr std::array<const char*, 2> host_keys{"eta", "mu"};
  static constexpr bool host_keys_first = true;

  struct Hyper {
    Value lr;
    double lambd, alpha, t0, weight_decay;
    bool maximize;
  };
  static Hyper read(const ParamGroup& g) {
    return {g.at("lr"), get_double(g, "lambd"), get_double(g, "alpha"), get_double(g, "t0"),
            get_double(g, "weight_decay"), get_bool(g, "maximize")};
  }
  static unsigned flags(const Hyper& h) {
    return optim_math::when(h.maximize, Math::kMaximize) | optim_math::when(h.weight_decay != 0, Math::kWeightDecay);
  }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) { return {h.weight_decay, h.lambd}; }
  // η and μ as stored: their scalar dtype's values.
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper& h, double, Tensor* const* host,
                                                                 const std::array<double, 2>&) {
    const double eta = read_host_state(*host[0]), mu = read_host_state(*host[1]);
    return {1 - h.lambd * eta, -eta, mu, mu != 1 ? 1.0 : 0.0};
  }
  static Tensor init_host(std::size_t k, const Hyper& h, const Tensor&) {
    return k == 0 ? host_scalar(h.lr.to_double()) : host_scalar(1.0);
  }
  // η and μ after step t.
  static std::array<double, 2> step_scalars(const Hyper& h, double step) {
    const double lambd = h.lambd, alpha = h.alpha;
    return {lr_expression(h.lr,
                          [&](auto lr) {
                            using std::pow;
                            return lr / pow(1.0 + lambd * lr * step, alpha);
                          }),
            1 / std::max(1.0, step - h.t0)};
  }
  static void after_update(const Hyper&, double, Tensor* const* host, const std::array<double, 2>& at_step) {
    fill_host_state(*host[0], at_step[0]);
    fill_host_state(*host[1], at_step[1]);
  }
  // PyTorch's foreach computes η from the step tensor, in its dtype:
  // lr / ((1 + lambd·lr·t) ** α) as tensor ops (a number lr divided by a
  // tensor is a reciprocal and a product).
  static void after_update_foreach(const Hyper& h, const Tensor& step, Tensor* const* host) {
    if (h.lr.is_tensor()) {
      const Tensor lr = h.lr.to_tensor().detach();
      host[0]->copy_(lr / lr.mul(h.lambd).mul(step).add(1).pow(h.alpha));
    } else {
      const double lr = h.lr.to_double();
      host[0]->copy_(step.mul(h.lambd * lr).add(1).pow(h.alpha).reciprocal().mul(lr));
    }
    host[1]->fill_(1 / std::max(1.0, step.item<double>() - h.t0));
  }
};

void validate(const ASGDOptions& o) {
  check_lr("ASGD", o.lr);
  check_non_negative("ASGD", "weight_decay", o.weight_decay);
}
}  // namespace

ASGD::ASGD(Params params, const ASGDOptions& o)
    : PointwiseOptimizer("ASGD", (validate(o), options_dict(o)), declaration<ASGDDefinition, ASGDOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("ASGD", o.foreach, o.fused, o.differentiable);
}

void ASGD::step_group(ParamGroup& group) { pointwise_step<ASGDDefinition>(*this, state_cache(), group); }

}  // namespace descent::optim
