#pragma once
// torch.optim.swa_utils: Stochastic Weight Averaging (Izmailov et al. 2018,
// arXiv:1803.05407) and exponential moving averages of a model's weights.
//
//   nn::Sequential model(...);
//   AveragedModel swa_model(model);                       // SWA: running mean
//   AveragedModel ema_model(model, {.multi_avg_fn = get_ema_multi_avg_fn(0.999)});
//   SWALR swa_scheduler(opt, 0.05);
//   for (epoch ...) {
//     train(model, opt);
//     if (epoch >= swa_start) { swa_model.update_parameters(model); swa_scheduler.step(); }
//   }
//   update_bn(loader, swa_model);                         // BatchNorm statistics for the averaged weights
//
// The averaging functions take the number of snapshots already averaged as a
// 0-dim int64 tensor (AveragedModel's n_averaged) and run without recording
// gradients.
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "descent/autograd/nn/module.h"
#include "descent/optim/lr/lr_scheduler.h"

namespace descent::nn {
class BatchNorm1d;
}  // namespace descent::nn

namespace descent::optim::swa_utils {

// f(averaged, current, num_averaged) -> the new average (a new tensor).
using AvgFn =
    std::function<Tensor(const Tensor& averaged, const Tensor& current, const Tensor& num_averaged)>;
// f(averaged, current, num_averaged) updates every averaged tensor in place;
// the lists share one device and dtype.
using MultiAvgFn = std::function<void(std::vector<Tensor>& averaged, const std::vector<Tensor>& current,
                                      const Tensor& num_averaged)>;

// avg + (cur - avg) / (n + 1): the equal-weight running mean.
AvgFn get_swa_avg_fn();
// decay * avg + (1 - decay) * cur; decay in [0, 1].
AvgFn get_ema_avg_fn(double decay = 0.999);
// The running mean in place, one lerp over the list with weight 1 / (n + 1)
// (computed as a tensor in the default dtype, as PyTorch does).
MultiAvgFn get_swa_multi_avg_fn();
// avg = lerp(avg, cur, 1 - decay) in place (avg*decay + cur*(1-decay) for
// non-floating tensors, truncated on copy); decay in [0, 1].
MultiAvgFn get_ema_multi_avg_fn(double decay = 0.999);

/// AveragedModel's settings: where the copy lives and the averaging function (none: SWA's equal weights; get_ema_multi_avg_fn: EMA) and whether buffers are averaged too.
struct AveragedModelOptions {
  // Where the averaged copy lives (default: where the model's tensors are).
  std::optional<Device> device{};
  // At most one of avg_fn and multi_avg_fn; neither means SWA (equal weights).
  AvgFn avg_fn{};
  MultiAvgFn multi_avg_fn{};
  // Also average the buffers (BatchNorm running statistics); otherwise they
  // are copied from the model on every update.
  bool use_buffers = false;
};

/// A deep copy of a model whose parameters are a running average of the
/// snapshots passed to update_parameters(). The first update copies; the k-th
/// averages with n_averaged = k - 1. Its state_dict holds the copy's tensors
/// under "module." and the int64 buffer "n_averaged"; the averaging functions
/// are not part of it.
class AveragedModel : public nn::Module {
 public:
  explicit AveragedModel(const nn::Module& model, AveragedModelOptions options = {});

  Tensor forward(const Tensor& input) override;
  void update_parameters(const nn::Module& model);
  std::string name() const override { return "AveragedModel"; }

  std::shared_ptr<nn::Module> module;
  Tensor n_averaged;
  AvgFn avg_fn;
  MultiAvgFn multi_avg_fn;
  bool use_buffers;
};

/// Anneals each group's lr from its current value to swa_lr over
/// anneal_epochs steps ("cos" or "linear"), then holds swa_lr. It rebuilds
/// the lr it started from each step, so it composes with schedulers that
/// changed the lr before it took over. Stores swa_lr in every group.
class SWALR final : public lr::LRScheduler {
 public:
  SWALR(Optimizer& optimizer, const lr::PerGroup& swa_lr, int64_t anneal_epochs = 10,
        const std::string& anneal_strategy = "cos", int64_t last_epoch = -1);
  std::string name() const override { return "SWALR"; }

  int64_t anneal_epochs;
  std::string anneal_strategy;

 protected:
  std::vector<Value> compute_lr() override;

 private:
  double anneal(double t) const;
};

namespace detail {

/// update_bn's setup and teardown: resets the running statistics of every
/// BatchNorm module, switches the model to training with cumulative averages
/// (momentum None), and restores the momenta and the mode when destroyed.
class BatchNormUpdate {
 public:
  explicit BatchNormUpdate(nn::Module& model);
  ~BatchNormUpdate();
  BatchNormUpdate(const BatchNormUpdate&) = delete;
  BatchNormUpdate& operator=(const BatchNormUpdate&) = delete;

  // False when the model has no BatchNorm: nothing was touched, not even the mode.
  bool active() const { return !momenta_.empty(); }
  void feed(const Tensor& input, const std::optional<Device>& device);

 private:
  nn::Module& model_;
  std::vector<std::pair<nn::BatchNorm1d*, std::optional<double>>> momenta_;
  bool was_training_;
};

// The model input of a batch: the batch itself, or the first element of a
// list / tuple batch (input, target, ...).
inline const Tensor& batch_input(const Tensor& batch) { return batch; }
template <typename Batch>
requires requires(const Batch& b) {
  { b[0] } -> std::convertible_to<const Tensor&>;
}
const Tensor& batch_input(const Batch& batch) { return batch[0]; }
template <typename Batch>
requires requires(const Batch& b) {
  { std::get<0>(b) } -> std::convertible_to<const Tensor&>;
}
const Tensor& batch_input(const Batch& batch) { return std::get<0>(batch); }

}  // namespace detail

// Recomputes the BatchNorm running statistics of `model` with one pass over
// `loader` (any range of batches: tensors, or lists/tuples whose first
// element is the input), without recording gradients. Each BatchNorm's
// running mean becomes the mean of the per-batch means and its running
// variance the mean of the per-batch unbiased variances. Inputs are moved to
// `device` when given. A model without BatchNorm is left untouched.
template <typename Loader>
void update_bn(const Loader& loader, nn::Module& model, const std::optional<Device>& device = std::nullopt) {
  detail::BatchNormUpdate update(model);
  if (!update.active()) return;
  for (const auto& batch : loader) update.feed(detail::batch_input(batch), device);
}

}  // namespace descent::optim::swa_utils
