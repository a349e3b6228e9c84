#include "descent/optim/lr/sequential_lr.h"

#include <algorithm>
#include <utility>

#include "descent/optim/lr/reduce_lr_on_plateau.h"

namespace descent::optim::lr {

namespace {

void check_not_empty(const SchedulerList& schedulers, const std::string& name, const char* what) {
  if (schedulers.empty())
    raise<ValueError>(name, " expects at least one scheduler", what, ", but got no scheduler.");
}

void check_children(const SchedulerList& schedulers, const Optimizer& optimizer, const std::string& name) {
  for (std::size_t i = 0; i < schedulers.size(); ++i) {
    const LRScheduler* scheduler = schedulers[i].get();
    if (scheduler == nullptr)
      raise<TypeError>(name, " at index ", i, " should have `optimizer` as its attribute.");
    if (dynamic_cast<const ReduceLROnPlateau*>(scheduler) != nullptr)
      raise<ValueError>(
          name,
          " does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be "
          "specified when calling `step`, but got one at index ",
          i, " in the given schedulers sequence.");
    if (&scheduler->optimizer() != &optimizer)
      raise<ValueError>(name, " expects all schedulers to belong to the same optimizer, but got scheduler ",
                        scheduler->name(), " at index ", i, " has a different optimizer (",
                        scheduler->optimizer().name(), "), which is different from ", optimizer.name(), ".");
  }
}

Optimizer& chained_optimizer(const SchedulerList& schedulers, Optimizer* optimizer) {
  check_not_empty(schedulers, "ChainedScheduler", " to be chained");
  if (optimizer != nullptr) return *optimizer;
  if (!schedulers.front())
    raise<TypeError>("ChainedScheduler at index 0 should have `optimizer` as its attribute.");
  return schedulers.front()->optimizer();
}

Value children_state(const SchedulerList& schedulers) {
  std::vector<Value> out;
  for (const auto& scheduler : schedulers) out.emplace_back(scheduler->state_dict());
  return Value::list(std::move(out));
}

void load_children(const SchedulerList& schedulers, const Dict& state) {
  const Value* saved = state.find("_schedulers");
  if (saved == nullptr) return;
  const auto& items = saved->to_list().items;
  if (items.size() > schedulers.size())
    raise<IndexError>("load_state_dict: the state has ", items.size(), " schedulers but this one has ",
                      schedulers.size());
  for (std::size_t i = 0; i < items.size(); ++i) schedulers[i]->load_state_dict(items[i].to_dict());
}

}  // namespace

ChainedScheduler::ChainedScheduler(SchedulerList schedulers, Optimizer* optimizer)
    : LRScheduler(chained_optimizer(schedulers, optimizer)), schedulers_(std::move(schedulers)) {
  check_children(schedulers_, this->optimizer(), name());
  last_lr_ = param_groups_values(schedulers_.back()->optimizer(), "lr");
  attribute("_last_lr", &last_lr_);
}

void ChainedScheduler::step() {
  for (const auto& scheduler : schedulers_) scheduler->step();
  last_lr_ = param_groups_values(schedulers_.back()->optimizer(), "lr");
}

void ChainedScheduler::step(double) { raise<TypeError>("ChainedScheduler.step() takes no epoch argument"); }

std::vector<Value> ChainedScheduler::compute_lr() {
  raise<NotImplementedError>("ChainedScheduler has no get_lr(): its children compute the learning rates");
}

Dict ChainedScheduler::state_dict() const {
  Dict out = LRScheduler::state_dict();
  out.set("_schedulers", children_state(schedulers_));
  return out;
}

void ChainedScheduler::load_state_dict(const Dict& state) {
  LRScheduler::load_state_dict(state);
  load_children(schedulers_, state);
}

SequentialLR::SequentialLR(Optimizer& optimizer, SchedulerList schedulers, std::vector<int64_t> milestones,
                           int64_t last_epoch)
    : LRScheduler(optimizer), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  check_not_empty(schedulers_, name(), "");
  check_children(schedulers_, optimizer, name());
  if (milestones_.size() != schedulers_.size() - 1)
    raise<ValueError>(
        "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
        "milestone "
        "points, but got number of schedulers ",
        schedulers_.size(), " and the number of milestones to be equal to ", milestones_.size());
  this->last_epoch = last_epoch + 1;

  for (ParamGroup& group : optimizer.param_groups())
    update_param_group_value(group, "lr", group.at("initial_lr"));
  for (const auto& scheduler : schedulers_) recursive_undo(*scheduler);
  const auto idx = std::upper_bound(milestones_.begin(), milestones_.end(), 0) - milestones_.begin();
  schedulers_[idx]->initial_step();
  last_lr_ = schedulers_[idx]->get_last_lr();

  attribute("last_epoch", &this->last_epoch);
  attribute("_last_lr", &last_lr_);
}

void SequentialLR::recursive_undo(LRScheduler& scheduler) {
  const SchedulerList* children = nullptr;
  if (const auto* chained = dynamic_cast<const ChainedScheduler*>(&scheduler))
    children = &chained->schedulers();
  if (const auto* sequential = dynamic_cast<const SequentialLR*>(&scheduler))
    children = &sequential->schedulers();
  if (children == nullptr) {
    scheduler.last_epoch -= 1;
    return;
  }
  for (const auto& child : *children) recursive_undo(*child);
}

void SequentialLR::step() {
  last_epoch += 1;
  const auto idx = std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch) - milestones_.begin();
  LRScheduler& scheduler = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == last_epoch) {
    // Restart the next child at its epoch 0, silently (no deprecation warning, no step count).
    scheduler.update_lr(0);
  } else {
    scheduler.step();
  }
  last_lr_ = scheduler.get_last_lr();
}

void SequentialLR::step(double) { raise<TypeError>("SequentialLR.step() takes no epoch argument"); }

std::vector<Value> SequentialLR::compute_lr() {
  raise<NotImplementedError>("SequentialLR has no get_lr(): its children compute the learning rates");
}

Dict SequentialLR::state_dict() const {
  Dict out;
  std::vector<Value> milestones;
  for (int64_t m : milestones_) milestones.emplace_back(m);
  out.set("_milestones", Value::list(std::move(milestones)));
  for (const auto& [key, value] : LRScheduler::state_dict()) out.set(key, value);
  out.set("_schedulers", children_state(schedulers_));
  return out;
}

void SequentialLR::load_state_dict(const Dict& state) {
  LRScheduler::load_state_dict(state);
  if (const Value* milestones = state.find("_milestones")) {
    milestones_.clear();
    for (const Value& m : milestones->to_list().items) milestones_.push_back(m.to_int());
  }
  load_children(schedulers_, state);
}

}  // namespace descent::optim::lr
