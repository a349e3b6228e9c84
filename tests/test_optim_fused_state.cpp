// A fused step finds each param's state through a cache that later steps
// only verify (optim/state_cache.h), and reads tensor metadata from impls
// captured earlier in the step (optim/fused_launch.h). These tests change
// the state, the params and the groups between steps in the ways a user
// can, and check that the fused step then does what the forloop does: the
// forloop looks everything up anew, so it is the reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <tuple>

#include "descent/autograd/autograd.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

// One optimizer with its own copy of the params.
struct Run {
  std::vector<Tensor> params;
  std::unique_ptr<Optimizer> opt;
};

// Changes made to both runs before step `step` (after the grads are set).
using Change = std::function<void(Run& run, int step)>;

Run make_run(const OptimizerInfo& info, Dict config, bool fused) {
  Generator gen(5);
  Run run;
  for (const Shape& shape : {Shape{2, 3}, Shape{3}, Shape{4}})
    run.params.push_back(randn(shape, {.dtype = kFloat64}, &gen).requires_grad_());
  config.set("fused", fused);
  // Two groups, so that changes can move params between them.
  std::vector<ParamGroup> groups{ParamGroup({run.params[0], run.params[1]}), ParamGroup({run.params[2]})};
  run.opt = make(info, Params(groups), config);
  return run;
}

// The state of a param as float64 tensors by key (the fused step counter is
// float32 where the forloop's follows the default dtype).
std::vector<std::pair<std::string, Tensor>> state_of(const Optimizer& opt, const Tensor& param) {
  std::vector<std::pair<std::string, Tensor>> out;
  if (const Dict* st = opt.state().find(param))
    for (const auto& [key, value] : *st)
      if (value.is_tensor())
        out.emplace_back(std::get<std::string>(key), value.to_tensor().detach().to(kFloat64));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void compare(const Run& fused, const Run& forloop) {
  Tolerance tol = default_tolerance(kFloat64);
  for (std::size_t i = 0; i < fused.params.size(); ++i) {
    INFO("param ", i);
    std::string diff = mismatch(fused.params[i].detach(), forloop.params[i].detach(), tol);
    CHECK_MESSAGE(diff.empty(), diff);
    auto a = state_of(*fused.opt, fused.params[i]);
    auto b = state_of(*forloop.opt, forloop.params[i]);
    REQUIRE(a.size() == b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      INFO("state ", a[k].first);
      CHECK(a[k].first == b[k].first);
      diff = mismatch(a[k].second, b[k].second, tol);
      CHECK_MESSAGE(diff.empty(), diff);
    }
  }
}

// The kind and message of what `fn` throws, or "" when it returns.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const RuntimeError& e) {
    return std::string("RuntimeError: ") + e.what();
  } catch (const KeyError& e) {
    return std::string("KeyError: ") + e.what();
  } catch (const Error& e) {
    return std::string("Error: ") + e.what();
  }
  return "";
}

// Five steps of the fused and the forloop implementation from equal params
// with equal grads, `change` applied to both before each step; params and
// state compared after each. A step that raises must raise in both, with
// the same message.
void check_changes(const char* what, const Change& change) {
  for (const OptimizerInfo& info : rows_for("test_fused_state_changes")) {
    if (!info.supports("fused")) continue;
    for (const Dict& config : info.optim_inputs(kFloat64)) {
      if (flag_on(config, "capturable")) continue;
      INFO(std::string(what), ": ", info.name, " ", describe(config));
      Run fused = make_run(info, config, true);
      Run forloop = make_run(info, config, false);
      Generator gen(11);
      for (int step = 0; step < 5; ++step) {
        INFO("step ", step);
        for (std::size_t i = 0; i < fused.params.size(); ++i) {
          Tensor grad = randn(fused.params[i].sizes(), {.dtype = kFloat64}, &gen);
          fused.params[i].set_grad(grad);
          forloop.params[i].set_grad(grad.clone());
        }
        change(fused, step);
        change(forloop, step);
        std::string fused_error = error_of([&] { fused.opt->step(); });
        std::string forloop_error = error_of([&] { forloop.opt->step(); });
        CHECK(fused_error == forloop_error);
        if (!fused_error.empty() || !forloop_error.empty()) break;
        compare(fused, forloop);
      }
    }
  }
}

// The state dict of the run's first param that has state.
Dict* first_state(Run& run) {
  for (const Tensor& p : run.params)
    if (Dict* st = run.opt->state().find(p); st && !st->empty()) return st;
  return nullptr;
}

}  // namespace

TEST_CASE("test_fused_state_changes: a state tensor replaced by another") {
  check_changes("replaced", [](Run& run, int step) {
    if (step != 2) return;
    Dict* st = first_state(run);
    if (st == nullptr) return;  // SGD without momentum keeps no state
    for (const Key& key : st->keys())
      if (std::get<std::string>(key) != "step") st->set(key, st->at(key).to_tensor().mul(0.5));
  });
}

TEST_CASE("test_fused_state_changes: state entries re-inserted in another order") {
  check_changes("reordered", [](Run& run, int step) {
    if (step != 2) return;
    Dict* st = first_state(run);
    if (st == nullptr) return;
    std::vector<Key> keys = st->keys();
    Dict copy = *st;
    for (const Key& key : keys) st->erase(key);
    for (auto it = keys.rbegin(); it != keys.rend(); ++it) st->set(*it, copy.at(*it));
  });
}

TEST_CASE("test_fused_state_changes: a state key erased") {
  // Adam: the dict is not empty, so nothing re-creates it (KeyError, as in
  // PyTorch). SGD: the momentum buffer starts again from the grad.
  check_changes("erased", [](Run& run, int step) {
    if (step != 2) return;
    Dict* st = first_state(run);
    if (st == nullptr) return;  // SGD without momentum keeps no state
    for (const Key& key : st->keys())
      if (std::get<std::string>(key) != "step") {
        st->erase(key);
        break;
      }
  });
}

TEST_CASE("test_fused_state_changes: the state cleared, loaded, or replaced by a copy") {
  check_changes("cleared", [](Run& run, int step) {
    if (step == 2) run.opt->state().clear();
  });
  check_changes("loaded", [](Run& run, int step) {
    if (step == 1 || step == 3) run.opt->load_state_dict(run.opt->state_dict());
  });
  check_changes("assigned", [](Run& run, int step) {
    if (step == 2) run.opt->state() = optim::OptimizerState(run.opt->state());
  });
}

TEST_CASE("test_fused_state_changes: params replaced, dropped, regrouped") {
  check_changes("param replaced", [](Run& run, int step) {
    if (step != 2) return;
    Tensor fresh = run.params[1].detach().clone().requires_grad_();
    fresh.set_grad(run.params[1].grad());
    run.opt->param_groups()[0].params[1] = fresh;
    run.params[1] = fresh;
  });
  check_changes("grad dropped", [](Run& run, int step) {
    if (step == 1 || step == 2) run.params[step - 1].set_grad(Tensor());
  });
  check_changes("groups swapped", [](Run& run, int step) {
    if (step == 2) std::swap(run.opt->param_groups()[0], run.opt->param_groups()[1]);
  });
  check_changes("param moved to a new group", [](Run& run, int step) {
    if (step != 2) return;
    auto& groups = run.opt->param_groups();
    groups[0].params.erase(groups[0].params.begin());
    run.opt->add_param_group(ParamGroup({run.params[0]}));
  });
}

TEST_CASE("test_fused_state_changes: options changed between steps") {
  check_changes("options", [](Run& run, int step) {
    if (step != 2) return;
    for (ParamGroup& group : run.opt->param_groups()) {
      group["maximize"] = !group.at("maximize").to_bool();
      if (group.contains("amsgrad")) group["amsgrad"] = !group.at("amsgrad").to_bool();
      if (group.contains("momentum")) group["momentum"] = group.at("momentum").to_double() == 0 ? 0.5 : 0.0;
    }
  });
}

TEST_CASE("test_fused_state_changes: state that does not fit the param raises") {
  for (const OptimizerInfo& info : rows_for("test_fused_state_changes")) {
    if (!info.supports("fused")) continue;
    Dict config = info.stateful_config;
    config.set("fused", true);
    INFO(info.name);
    for (const auto& [what, replacement] :
         std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>>{
             {"shape", [](const Tensor& t) { return zeros({t.numel() + 1}, {.dtype = t.dtype()}); }},
             {"dtype", [](const Tensor& t) { return zeros(t.sizes(), {.dtype = kFloat32}); }}}) {
      INFO(what);
      Run run = make_run(info, config, true);
      for (Tensor& p : run.params) p.set_grad(ones_like(p));
      run.opt->step();
      Dict* st = first_state(run);
      REQUIRE(st != nullptr);
      std::string key;
      for (const Key& k : st->keys())
        if (std::get<std::string>(k) != "step") key = std::get<std::string>(k);
      Tensor before = run.params[0].detach().clone();
      const int64_t version = run.params[0]._version();
      st->set(key, replacement(st->at(key).to_tensor()));
      std::string message = error_of([&] { run.opt->step(); });
      CHECK(message.rfind("RuntimeError: ", 0) == 0);
      CHECK(message.find("`fused=True` needs each param's " + key) != std::string::npos);
      CHECK(mismatch(run.params[0].detach(), before, {0, 0}).empty());
      // Nothing changed: not the step counters, not the versions.
      if (const Value* step = st->find("step")) CHECK(step->to_double() == 1.0);
      CHECK(run.params[0]._version() == version);
    }
  }
}

// Changes to a param after its state started are checked at every step; a
// param that fails leaves the params before it untouched too (their
// versions and step counters go back).
TEST_CASE("test_fused_state_changes: a param changed under its grad and state raises") {
  for (const OptimizerInfo& info : rows_for("test_fused_state_changes")) {
    if (!info.supports("fused")) continue;
    Dict config = info.stateful_config;
    config.set("fused", true);
    INFO(info.name);
    for (const auto& [what, change, fragment] :
         std::vector<std::tuple<std::string, std::function<void(Tensor&)>, std::string>>{
             {"shape", [](Tensor& p) { autograd::set_data(p, zeros({5}, {.dtype = kFloat64})); },
              "`fused=True` needs each param's grad to be a dense tensor of the param's dtype, shape and "
              "device"},
             {"dtype",
              [](Tensor& p) {
                p.requires_grad_(false);
                autograd::set_data(p, zeros(p.sizes(), {.dtype = kInt64}));
              },
              "`fused=True` requires all the params to be floating point Tensors"}}) {
      INFO(what);
      Run run = make_run(info, config, true);
      for (Tensor& p : run.params) p.set_grad(ones_like(p));
      run.opt->step();
      change(run.params[1]);
      Tensor before = run.params[0].detach().clone();
      const int64_t version = run.params[0]._version();
      std::string message = error_of([&] { run.opt->step(); });
      CHECK(message.rfind("RuntimeError: ", 0) == 0);
      CHECK_MESSAGE(message.find(fragment) != std::string::npos, message);
      CHECK(mismatch(run.params[0].detach(), before, {0, 0}).empty());
      CHECK(run.params[0]._version() == version);
      if (const Value* step = run.opt->state().find(run.params[0])->find("step"))
        CHECK(step->to_double() == 1.0);
    }
  }
}
