#pragma once
// Building an optimizer by name from keyword arguments, as Python code does
// with getattr(torch.optim, name)(params, **kwargs): configuration files,
// command lines and the generic test suite use it.
//
//   auto opt = optim::make_optimizer("Adam", model_params, Dict{{"lr", 0.01}, {"betas", Value::tuple({0.8,
//   0.9})}});
//
// Each keyword has the PyTorch name and accepts what the Python argument
// accepts: numbers or one-element tensors for lr-like options, a 2-tuple for
// betas, True/False for flags and None/True/False for foreach and fused.
#include <memory>
#include <string>
#include <vector>

#include "descent/optim/optimizer.h"

namespace descent::optim {

// Throws ValueError for an unknown optimizer name, TypeError for a keyword
// the optimizer does not have ("SGD.__init__() got an unexpected keyword
// argument 'foo'") or a value of the wrong kind, and whatever the
// optimizer's constructor throws for invalid values.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, Params params, const Dict& kwargs = {});

// The names make_optimizer knows, in registration order.
std::vector<std::string> optimizer_names();

}  // namespace descent::optim
