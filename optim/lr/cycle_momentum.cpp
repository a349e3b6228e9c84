#include "optim/lr/cycle_momentum.h"

namespace descent::optim::lr::detail {

bool uses_beta1(const Optimizer& optimizer) {
  const Dict& defaults = optimizer.defaults();
  if (!defaults.contains("momentum") && !defaults.contains("betas"))
    raise<ValueError>("optimizer must support momentum or beta1 with `cycle_momentum` option enabled");
  return defaults.contains("betas");
}

void set_momentum(ParamGroup& group, bool use_beta1, const Value& momentum) {
  if (!use_beta1) {
    group["momentum"] = momentum;
    return;
  }
  std::vector<Value> betas{momentum};
  const auto& old = group.at("betas").to_list().items;
  betas.insert(betas.end(), old.begin() + (old.empty() ? 0 : 1), old.end());
  group["betas"] = Value::tuple(std::move(betas));
}

void init_group_momenta(Optimizer& optimizer, bool use_beta1, const std::vector<Value>& max_momentums,
                        const std::vector<Value>& base_momentums) {
  auto& groups = optimizer.param_groups();
  for (std::size_t i = 0; i < groups.size(); ++i) {
    set_momentum(groups[i], use_beta1, max_momentums[i]);
    groups[i]["max_momentum"] = max_momentums[i];
    groups[i]["base_momentum"] = base_momentums[i];
  }
}

}  // namespace descent::optim::lr::detail
