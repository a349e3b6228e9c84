#pragma once
// Momentum cycling shared by CyclicLR and OneCycleLR: SGD-style optimizers
// expose "momentum", Adam-style ones cycle beta1 inside "betas".
#include <vector>

#include "descent/optim/optimizer.h"

namespace descent::optim::lr::detail {

// Whether the optimizer cycles "betas" (else "momentum"); a ValueError when it has neither.
bool uses_beta1(const Optimizer& optimizer);

// Writes group["momentum"], or betas[0] keeping the other betas.
void set_momentum(ParamGroup& group, bool use_beta1, const Value& momentum);

// The fresh-scheduler setup: momentum (or beta1) = max_momentum, and both
// bounds stored in the group as "max_momentum" / "base_momentum".
void init_group_momenta(Optimizer& optimizer, bool use_beta1, const std::vector<Value>& max_momentums,
                        const std::vector<Value>& base_momentums);

}  // namespace descent::optim::lr::detail
