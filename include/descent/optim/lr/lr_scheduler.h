#pragma once
// descent::optim::lr::LRScheduler — the base of every learning-rate
// scheduler (torch.optim.lr_scheduler.LRScheduler).
//
// A scheduler owns no parameters: it reads and writes the hyper-parameters
// of its optimizer's param groups (group["lr"], and "initial_lr" which it
// adds). Construction performs the first step, so the optimizer's lr is the
// schedule's value for epoch 0 as soon as the scheduler exists:
//
//   SGD opt(params, {.lr = 0.1});
//   StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (epoch ...) { train(opt); /* opt.step() per batch */ sched.step(); }
//
// Writing a scheduler: derive, validate and set your members in the
// constructor, then call initialize(last_epoch) (PyTorch's
// super().__init__, which already takes the first step and therefore must
// come last). compute_lr() returns one value per group; closed_form_lr()
// optionally gives the value at last_epoch from base_lrs alone (used by
// step(epoch)).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "descent/optim/lr/lr_value.h"
#include "descent/optim/optimizer.h"
#include "descent/optim/value.h"

namespace descent::optim::lr {

// The warning emitted by step(epoch); PyTorch's constant of the same name, in this library's words.
extern const char* const EPOCH_DEPRECATION_WARNING;

class SequentialLR;

/// The base of the learning-rate schedulers: it rewrites its optimizer's group lrs on each step(); state_dict/load_state_dict resume it.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // The class name, as PyTorch prints it ("StepLR").
  virtual std::string name() const = 0;
  Optimizer& optimizer() const { return *optimizer_; }

  // Advances the schedule by one epoch (or batch, for per-batch schedulers).
  // Call it after optimizer.step(); the reverse order warns once.
  virtual void step();
  // Deprecated: jumps to `epoch` (closed form where the scheduler has one) and
  // warns with EPOCH_DEPRECATION_WARNING. Only CosineAnnealingWarmRestarts
  // accepts fractional epochs; elsewhere a fraction is a ValueError.
  virtual void step(double epoch);

  // The lrs the last step wrote (copies: changing them never touches the optimizer).
  const std::vector<Value>& get_last_lr() const { return last_lr_; }
  // The lrs the next step would write. Outside step() it warns that get_last_lr()
  // is what you want, and it has the side effects PyTorch's get_lr has
  // (CyclicLR and OneCycleLR write momentum).
  std::vector<Value> get_lr();

  // Every attribute except the optimizer, under PyTorch's names.
  virtual Dict state_dict() const;
  // Sets the attributes present in `state` (no validation, as PyTorch).
  virtual void load_state_dict(const Dict& state);

  // PyTorch's public attributes.
  std::vector<Value> base_lrs;
  int64_t last_epoch = -1;

 protected:
  // Schedulers that manage no initial_lr (ReduceLROnPlateau, ChainedScheduler,
  // SequentialLR) never call initialize(): they touch no group at construction.
  explicit LRScheduler(Optimizer& optimizer);
  // PyTorch's LRScheduler.__init__: sets initial_lr in every group
  // (last_epoch == -1; an existing one is kept) or requires it (resuming,
  // last_epoch >= 0), sets base_lrs and last_epoch, and takes the initial step.
  void initialize(int64_t last_epoch);

  virtual std::vector<Value> compute_lr() = 0;
  // The closed form at last_epoch, for schedulers that have one.
  virtual std::optional<std::vector<Value>> closed_form_lr() { return std::nullopt; }

  // The first step, taken at construction (PyTorch's _initial_step);
  // SequentialLR re-runs it for the child that is active at epoch 0.
  void initial_step();
  // PyTorch's _update_lr: advance (or jump to `epoch`), compute, write, record.
  void update_lr(std::optional<int64_t> epoch);
  // compute_lr() as step() calls it (no "use get_last_lr()" warning).
  std::vector<Value> compute_lr_within_step();
  // Writes one value per group into group["lr"] and records get_last_lr().
  void write_lrs(const std::vector<Value>& values);
  // PyTorch's warning when the first scheduler step precedes any optimizer step.
  void check_step_order() const;
  std::vector<Value> current_lrs() const { return param_groups_values(*optimizer_, "lr"); }
  std::vector<ParamGroup>& param_groups() const { return optimizer_->param_groups(); }

  int64_t step_count() const { return step_count_; }
  bool is_initial() const { return is_initial_; }

  // A member saved by state_dict() under PyTorch's attribute name and set by
  // load_state_dict(); registered once, in the constructor.
  using AttributeRef = std::variant<int64_t*, double*, bool*, std::string*, Value*, std::vector<Value>*>;
  void attribute(std::string name, AttributeRef ref);

  // PyTorch's _last_lr (schedulers that skip initialize() register it themselves).
  std::vector<Value> last_lr_;

 private:
  friend class SequentialLR;

  Optimizer* optimizer_;
  int64_t step_count_ = 0;
  bool is_initial_ = false;
  bool get_lr_called_within_step_ = false;
  std::vector<std::pair<std::string, AttributeRef>> attributes_;
};

}  // namespace descent::optim::lr
