#include "descent/optim/swa_utils.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

#include "descent/autograd/grad_mode.h"
#include "descent/autograd/nn/batchnorm.h"
#include "descent/tensor/foreach.h"
#include "descent/tensor/ops.h"

namespace descent::optim::swa_utils {

namespace {

void check_decay(double decay) {
  if (decay < 0.0 || decay > 1.0)
    raise<ValueError>("Invalid decay value ", format_double(decay),
                      " provided. Please provide a value in [0,1] range.");
}

bool lerp_supported(const Tensor& t) { return t.is_floating_point() || t.is_complex(); }

// Python evaluates `1 / (num_averaged + 1)` on the 0-dim int64 tensor:
// Tensor.__rtruediv__, i.e. reciprocal() in the default dtype, then * 1.
double swa_weight(const Tensor& num_averaged) { return ((num_averaged + 1).reciprocal() * 1).item<double>(); }

}  // namespace

AvgFn get_swa_avg_fn() {
  return [](const Tensor& averaged, const Tensor& current, const Tensor& num_averaged) {
    autograd::NoGradGuard no_grad;
    return averaged + (current - averaged) / (num_averaged + 1);
  };
}

AvgFn get_ema_avg_fn(double decay) {
  check_decay(decay);
  return [decay](const Tensor& averaged, const Tensor& current, const Tensor&) {
    autograd::NoGradGuard no_grad;
    return decay * averaged + (1 - decay) * current;
  };
}

MultiAvgFn get_swa_multi_avg_fn() {
  return [](std::vector<Tensor>& averaged, const std::vector<Tensor>& current, const Tensor& num_averaged) {
    autograd::NoGradGuard no_grad;
    if (averaged.empty()) return;
    if (!lerp_supported(averaged.front()))
      raise<RuntimeError>(
          "get_swa_multi_avg_fn: cannot average ", to_string(averaged.front().dtype()),
          " tensors in place (integer division with addcdiv is not supported); average them with "
          "get_swa_avg_fn or keep them out of the averaged lists");
    _foreach_lerp_(averaged, current, swa_weight(num_averaged));
  };
}

MultiAvgFn get_ema_multi_avg_fn(double decay) {
  check_decay(decay);
  return [decay](std::vector<Tensor>& averaged, const std::vector<Tensor>& current, const Tensor&) {
    autograd::NoGradGuard no_grad;
    if (averaged.empty()) return;
    if (lerp_supported(averaged.front())) {
      _foreach_lerp_(averaged, current, 1 - decay);
      return;
    }
    if (averaged.size() != current.size())
      raise<ValueError>("get_ema_multi_avg_fn: ", averaged.size(), " averaged tensors but ", current.size(),
                        " current ones");
    for (std::size_t i = 0; i < averaged.size(); ++i)
      averaged[i].copy_(averaged[i] * decay + current[i] * (1 - decay));
  };
}

AveragedModel::AveragedModel(const nn::Module& model, AveragedModelOptions options)
    : avg_fn(std::move(options.avg_fn)),
      multi_avg_fn(std::move(options.multi_avg_fn)),
      use_buffers(options.use_buffers) {
  if (avg_fn && multi_avg_fn) raise<ValueError>("Only one of avg_fn and multi_avg_fn should be provided");
  module = register_module("module", model.clone());
  if (options.device) module->to(*options.device);
  n_averaged = register_buffer("n_averaged", zeros({}, {.dtype = kInt64, .device = options.device}));
}

Tensor AveragedModel::forward(const Tensor& input) { return module->forward(input); }

void AveragedModel::update_parameters(const nn::Module& model) {
  autograd::NoGradGuard no_grad;
  std::vector<Tensor> mine = module->parameters();
  std::vector<Tensor> theirs = model.parameters();
  if (use_buffers) {
    for (Tensor& b : module->buffers()) mine.push_back(b);
    for (Tensor& b : model.buffers()) theirs.push_back(b);
  }
  // Pairs stop at the shorter list, as Python's zip.
  const std::size_t n = std::min(mine.size(), theirs.size());
  std::vector<Tensor> averaged, current;
  const bool copy = n_averaged.item<int64_t>() == 0;
  for (std::size_t i = 0; i < n; ++i) {
    averaged.push_back(mine[i].detach());
    current.push_back(theirs[i].detach().to(mine[i].device()));
    if (copy) averaged.back().copy_(current.back());
  }
  if (!copy) {
    if (multi_avg_fn || !avg_fn) {
      // Buckets by (device, dtype) of the averaged tensors, in order of first appearance.
      std::vector<std::pair<std::pair<Device, Dtype>, std::pair<std::vector<Tensor>, std::vector<Tensor>>>>
          buckets;
      for (std::size_t i = 0; i < n; ++i) {
        const auto key = std::make_pair(averaged[i].device(), averaged[i].dtype());
        auto it = std::find_if(buckets.begin(), buckets.end(), [&](const auto& b) { return b.first == key; });
        if (it == buckets.end()) it = buckets.insert(buckets.end(), {key, {}});
        it->second.first.push_back(averaged[i]);
        it->second.second.push_back(current[i]);
      }
      for (auto& [key, lists] : buckets) {
        const Tensor count = n_averaged.to(key.first);
        if (multi_avg_fn) {
          multi_avg_fn(lists.first, lists.second, count);
        } else if (key.first.is_cuda()) {
          get_swa_multi_avg_fn()(lists.first, lists.second, count);
        } else {
          const AvgFn swa = get_swa_avg_fn();
          for (std::size_t i = 0; i < lists.first.size(); ++i)
            lists.first[i].copy_(swa(lists.first[i], lists.second[i], count));
        }
      }
    } else {
      for (std::size_t i = 0; i < n; ++i)
        averaged[i].copy_(avg_fn(averaged[i], current[i], n_averaged.to(averaged[i].device())));
    }
  }
  if (!use_buffers) {
    // Keep the buffers in sync with the source model.
    std::vector<Tensor> own = module->buffers();
    std::vector<Tensor> source = model.buffers();
    if (own.size() != source.size())
      raise<ValueError>("AveragedModel.update_parameters: the model has ", source.size(),
                        " buffers but the averaged copy has ", own.size());
    for (std::size_t i = 0; i < own.size(); ++i)
      own[i].detach().copy_(source[i].detach().to(own[i].device()));
  }
  n_averaged.add_(1);
}

SWALR::SWALR(Optimizer& optimizer, const lr::PerGroup& swa_lr, int64_t anneal_epochs,
             const std::string& anneal_strategy, int64_t last_epoch)
    : LRScheduler(optimizer), anneal_epochs(anneal_epochs), anneal_strategy(anneal_strategy) {
  const std::vector<Value> swa_lrs = lr::format_param("swa_lr", optimizer, swa_lr);
  auto& groups = optimizer.param_groups();
  for (std::size_t i = 0; i < groups.size(); ++i) groups[i]["swa_lr"] = swa_lrs[i];
  if (anneal_strategy != "cos" && anneal_strategy != "linear")
    raise<ValueError>("anneal_strategy must be one of 'cos' or 'linear', instead got ", anneal_strategy);
  if (anneal_epochs < 0)
    raise<ValueError>("anneal_epochs must be equal or greater than 0, got ", anneal_epochs);
  attribute("_anneal_strategy", &this->anneal_strategy);
  attribute("anneal_epochs", &this->anneal_epochs);
  initialize(last_epoch);
}

double SWALR::anneal(double t) const {
  return anneal_strategy == "cos" ? (1 - std::cos(std::numbers::pi * t)) / 2 : t;
}

std::vector<Value> SWALR::compute_lr() {
  int64_t step = step_count() - 1;
  if (anneal_epochs == 0) step = std::max<int64_t>(1, step);
  const auto epochs = static_cast<double>(std::max<int64_t>(1, anneal_epochs));
  const double prev_alpha = anneal(std::clamp(static_cast<double>(step - 1) / epochs, 0.0, 1.0));
  const double alpha = anneal(std::clamp(static_cast<double>(step) / epochs, 0.0, 1.0));
  std::vector<Value> out;
  for (ParamGroup& group : param_groups()) {
    const lr::LrValue swa_lr(group.at("swa_lr"));
    // The lr the annealing started from, rebuilt from the current one.
    const lr::LrValue start =
        prev_alpha == 1 ? swa_lr : (lr::LrValue(group.at("lr")) - prev_alpha * swa_lr) / (1 - prev_alpha);
    out.push_back((swa_lr * alpha + start * (1 - alpha)).to_value());
  }
  return out;
}

namespace detail {

BatchNormUpdate::BatchNormUpdate(nn::Module& model) : model_(model), was_training_(model.is_training()) {
  for (nn::Module* m : model.modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm1d*>(m)) {
      bn->reset_running_stats();
      momenta_.emplace_back(bn, bn->momentum);
    }
  if (momenta_.empty()) return;
  model.train();
  // momentum None: every batch weighs the same in the running averages.
  for (auto& [bn, momentum] : momenta_) bn->momentum = std::nullopt;
}

BatchNormUpdate::~BatchNormUpdate() {
  if (momenta_.empty()) return;
  for (auto& [bn, momentum] : momenta_) bn->momentum = momentum;
  model_.train(was_training_);
}

void BatchNormUpdate::feed(const Tensor& input, const std::optional<Device>& device) {
  autograd::NoGradGuard no_grad;
  model_(device ? input.to(*device) : input);
}

}  // namespace detail

}  // namespace descent::optim::swa_utils
