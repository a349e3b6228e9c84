// Loss modules.
#include "descent/autograd/nn/loss.h"

#include "descent/autograd/nn/functional.h"

namespace descent::nn {

namespace {
void check_reduction(const std::string& reduction) {
  if (reduction != "mean" && reduction != "sum" && reduction != "none")
    raise<ValueError>(reduction, " is not a valid value for reduction");
}
}  // namespace

MSELoss::MSELoss(std::string reduction_) : reduction(std::move(reduction_)) { check_reduction(reduction); }

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return functional::mse_loss(input, target, reduction);
}

CrossEntropyLoss::CrossEntropyLoss(CrossEntropyLossOptions options)
    : weight(options.weight),
      ignore_index(options.ignore_index),
      reduction(std::move(options.reduction)),
      label_smoothing(options.label_smoothing) {
  check_reduction(reduction);
  if (label_smoothing < 0.0 || label_smoothing > 1.0)
    raise<ValueError>("label_smoothing must be between 0.0 and 1.0. Got: ", format_double(label_smoothing));
  reset();
}

void CrossEntropyLoss::reset() {
  if (weight.defined()) weight = register_buffer("weight", weight.clone());
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing);
}

}  // namespace descent::nn
