#pragma once
// Schedulers made of schedulers: SequentialLR runs one child at a time,
// switching at milestones; ChainedScheduler steps all of them every step.
// Children are shared with the caller, who may keep stepping-free handles to
// them (e.g. to read a child's state).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "descent/optim/lr/lr_scheduler.h"

namespace descent::optim::lr {

using SchedulerList = std::vector<std::shared_ptr<LRScheduler>>;

/// Steps every child in order on each step(); recursive children compose
/// multiplicatively. The children must share one optimizer and none may be a
/// ReduceLROnPlateau (it needs a metric).
class ChainedScheduler final : public LRScheduler {
 public:
  // optimizer: the optimizer every child must use (default: the first child's).
  explicit ChainedScheduler(SchedulerList schedulers, Optimizer* optimizer = nullptr);
  std::string name() const override { return "ChainedScheduler"; }

  void step() override;
  // PyTorch's ChainedScheduler.step takes no epoch: a TypeError.
  void step(double epoch) override;
  // Own attributes plus "_schedulers": the children's state dicts, in order.
  Dict state_dict() const override;
  void load_state_dict(const Dict& state) override;

  const SchedulerList& schedulers() const { return schedulers_; }

 protected:
  std::vector<Value> compute_lr() override;

 private:
  SchedulerList schedulers_;
};

/// Runs schedulers[i] between milestones[i-1] and milestones[i]; at a
/// milestone the next child restarts from epoch 0 (its closed form when it
/// has one). Construction resets every group's lr to initial_lr, undoes the
/// children's construction steps and redoes the first child's, so the lr
/// right after construction is what the first child alone would give.
class SequentialLR final : public LRScheduler {
 public:
  // milestones: sorted, one fewer than schedulers.
  SequentialLR(Optimizer& optimizer, SchedulerList schedulers, std::vector<int64_t> milestones,
               int64_t last_epoch = -1);
  std::string name() const override { return "SequentialLR"; }

  void step() override;
  // PyTorch's SequentialLR.step takes no epoch: a TypeError.
  void step(double epoch) override;
  Dict state_dict() const override;
  void load_state_dict(const Dict& state) override;

  const SchedulerList& schedulers() const { return schedulers_; }
  const std::vector<int64_t>& milestones() const { return milestones_; }

 protected:
  std::vector<Value> compute_lr() override;

 private:
  // Decrements last_epoch of every leaf scheduler below `scheduler`.
  static void recursive_undo(LRScheduler& scheduler);

  SchedulerList schedulers_;
  std::vector<int64_t> milestones_;
};

}  // namespace descent::optim::lr
