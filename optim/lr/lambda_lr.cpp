#include "descent/optim/lr/lambda_lr.h"

#include <algorithm>
#include <utility>

namespace descent::optim::lr {

namespace {

void check_lambdas(const Optimizer& optimizer, const std::vector<LrLambda>& lr_lambdas) {
  if (lr_lambdas.size() != optimizer.param_groups().size())
    raise<ValueError>("Expected ", optimizer.param_groups().size(), " lr_lambdas, but got ",
                      lr_lambdas.size());
  for (const LrLambda& fn : lr_lambdas)
    if (!fn) raise<TypeError>("lr_lambda should be a function, but got an empty function");
}

Value lambdas_state(const std::vector<LrLambda>& lr_lambdas) {
  std::vector<Value> out;
  for (const LrLambda& fn : lr_lambdas) out.push_back(fn.state());
  return Value::list(std::move(out));
}

void load_lambdas(std::vector<LrLambda>& lr_lambdas, const Dict& state) {
  const Value* saved = state.find("lr_lambdas");
  if (saved == nullptr) return;
  const auto& items = saved->to_list().items;
  if (items.size() > lr_lambdas.size())
    raise<IndexError>("load_state_dict: the state has ", items.size(), " lr_lambdas but the scheduler has ",
                      lr_lambdas.size());
  for (std::size_t i = 0; i < items.size(); ++i) lr_lambdas[i].load_state(items[i]);
}

}  // namespace

LambdaLR::LambdaLR(Optimizer& optimizer, const LrLambda& lr_lambda, int64_t last_epoch)
    : LambdaLR(optimizer, std::vector<LrLambda>(optimizer.param_groups().size(), lr_lambda), last_epoch) {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas, int64_t last_epoch)
    : LRScheduler(optimizer), lr_lambdas(std::move(lr_lambdas)) {
  check_lambdas(optimizer, this->lr_lambdas);
  initialize(last_epoch);
}

std::vector<Value> LambdaLR::compute_lr() {
  std::vector<Value> out;
  for (std::size_t i = 0; i < std::min(lr_lambdas.size(), base_lrs.size()); ++i)
    out.push_back((LrValue(base_lrs[i]) * lr_lambdas[i](last_epoch)).to_value());
  return out;
}

Dict LambdaLR::state_dict() const {
  Dict out = LRScheduler::state_dict();
  out.set("lr_lambdas", lambdas_state(lr_lambdas));
  return out;
}

void LambdaLR::load_state_dict(const Dict& state) {
  LRScheduler::load_state_dict(state);
  load_lambdas(lr_lambdas, state);
}

MultiplicativeLR::MultiplicativeLR(Optimizer& optimizer, const LrLambda& lr_lambda, int64_t last_epoch)
    : MultiplicativeLR(optimizer, std::vector<LrLambda>(optimizer.param_groups().size(), lr_lambda),
                       last_epoch) {}

MultiplicativeLR::MultiplicativeLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas, int64_t last_epoch)
    : LRScheduler(optimizer), lr_lambdas(std::move(lr_lambdas)) {
  check_lambdas(optimizer, this->lr_lambdas);
  initialize(last_epoch);
}

std::vector<Value> MultiplicativeLR::compute_lr() {
  if (is_initial()) return current_lrs();
  std::vector<Value> out;
  auto& groups = param_groups();
  for (std::size_t i = 0; i < std::min(lr_lambdas.size(), groups.size()); ++i)
    out.push_back((LrValue(groups[i].at("lr")) * lr_lambdas[i](last_epoch)).to_value());
  return out;
}

Dict MultiplicativeLR::state_dict() const {
  Dict out = LRScheduler::state_dict();
  out.set("lr_lambdas", lambdas_state(lr_lambdas));
  return out;
}

void MultiplicativeLR::load_state_dict(const Dict& state) {
  LRScheduler::load_state_dict(state);
  load_lambdas(lr_lambdas, state);
}

}  // namespace descent::optim::lr
