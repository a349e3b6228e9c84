#include "descent/optim/rprop.h"

#include <complex>

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {
struct RpropDefinition : PointwiseDefinition {
  using Math = optim_math::Rprop;
  static constexpr const char* name = "Rprop";
  static constexpr std::array<const char*, Math::kSlots> slot_keys{"prev", "step_size"};

  struct Hyper {
    double lr, etaminus, etaplus, step_size_min, step_size_max;
    bool maximize;
  };
  static Hyper read(const ParamGroup& g) {
    auto [etaminus, etaplus] = get_pair(g, "etas");
    auto [step_size_min, step_size_max] = get_pair(g, "step_sizes");
    return {g.lr(), etaminus, etaplus, step_size_min, step_size_max, get_bool(g, "maximize")};
  }
  static unsigned flags(const Hyper& h) { return optim_math::when(h.maximize, Math::kMaximize); }
  static std::array<double, Math::kScalars> scalars(const Hyper& h) {
    return {h.etaminus, h.etaplus, h.step_size_min, h.step_size_max, 0.0, 1.0, -1.0};
  }
  static std::array<double, Math::kTensorScalars> tensor_scalars(const Hyper&, double, Tensor* const*) { return {}; }
  // prev starts at zero; step_size at lr, like the grad (lr + lr·i when complex).
  static Tensor init_slot(std::size_t k, const Hyper& h, const Tensor& param, const Tensor& grad) {
    if (k == Math::prev) return zeros_like(param);
    if (grad.is_complex()) return full_like(grad, Scalar(std::complex<double>(h.lr, h.lr)));
    return full_like(grad, h.lr);
  }
};

void validate(const RpropOptions& o) {
  check_lr("Rprop", o.lr);
  const double etaminus = o.etas[0].to_double(), etaplus = o.etas[1].to_double();
  if (!(0.0 < etaminus && etaminus < 1.0 && 1.0 < etaplus))
    raise<ValueError>("Rprop: Invalid eta values: ", o.etas[0].str(), ", ", o.etas[1].str(),
                      " (must be 0 < etas[0] < 1 < etas[1])");
}
}  // namespace

Rprop::Rprop(Params params, const RpropOptions& o)
    : PointwiseOptimizer("Rprop", (validate(o), options_dict(o)), declaration<RpropDefinition, RpropOptions, &validate>()) {
  init_param_groups(std::move(params));
  check_fused_flags("Rprop", o.foreach, o.fused, o.differentiable);
}

void Rprop::step_group(ParamGroup& group) { pointwise_step<RpropDefinition>(*this, state_cache(), group); }

}  // namespace descent::optim
