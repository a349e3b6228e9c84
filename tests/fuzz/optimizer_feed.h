#pragma once
// Shared by tests/fuzz/fuzz_checkpoint.cpp and the corpus regression in
// tests/test_checkpoint.cpp: a loaded value that looks like an optimizer state
// dict is fed through load_state_dict into a fused Adam, a forloop Adam and an
// SGD with momentum, each of which then steps. Whatever the value holds, each
// stage must either succeed or raise a descent::Error (caught here); a crash,
// a sanitizer report or another exception is a bug.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "descent/optim/adam.h"
#include "descent/optim/sgd.h"
#include "descent/tensor/ops.h"

namespace descent::testing {

using optim::ParamGroup;

// Params are built for the ids the groups list; inputs listing more are
// skipped (load_state_dict of that many would only cost time, not reach code).
inline constexpr std::size_t kMaxFedParams = 64;
// A state tensor larger than this does not shape its param (a small fixed one is used).
inline constexpr int64_t kMaxFedNumel = 4096;

// The param for a saved id: shaped and typed like its state's first dense
// floating-point tensor other than `step` (so that the load can succeed and
// the step runs on real state), else a float32 vector of two.
inline Tensor param_for(const Dict* state) {
  if (state)
    for (const auto& [key, value] : *state) {
      const std::string* name = std::get_if<std::string>(&key);
      if ((name && *name == "step") || !value.is_tensor()) continue;
      const Tensor& t = value.to_tensor();
      if (!t.defined() || t.is_sparse() || t.numel() > kMaxFedNumel) continue;
      if (!t.is_floating_point() && !t.is_complex()) continue;
      TensorOptions o;
      o.dtype = t.dtype();
      return full(t.sizes(), 0.5, o);
    }
  return full({2}, 0.5);
}

// The params of every saved group, one tensor per distinct id (an id listed
// twice is the same param, as it is in a state dict an optimizer wrote).
// Empty when the value is not shaped like a state dict or lists too many ids.
inline std::vector<ParamGroup> params_for(const Value& value) {
  if (!value.is_dict()) return {};
  const Value* state = value.to_dict().find("state");
  const Value* groups = value.to_dict().find("param_groups");
  if (!state || !state->is_dict() || !groups || !groups->is_list()) return {};
  std::map<int64_t, Tensor> by_id;
  std::size_t count = 0;
  std::vector<ParamGroup> out;
  for (const Value& g : groups->to_list().items) {
    ParamGroup group;
    const Value* ids = g.is_dict() ? g.to_dict().find("params") : nullptr;
    if (ids && ids->is_list())
      for (const Value& id : ids->to_list().items) {
        if (++count > kMaxFedParams) return {};
        const int64_t key = id.is_int() ? id.to_int() : -1;
        auto it = by_id.find(key);
        if (it == by_id.end()) {
          const Value* s = state->to_dict().find(key);
          it = by_id.emplace(key, param_for(s && s->is_dict() ? &s->to_dict() : nullptr)).first;
        }
        group.params.push_back(it->second);
      }
    out.push_back(std::move(group));
  }
  return out;
}

// The state dict with every group's options overridden by `options` (the
// implementation flags the optimizer under test needs, since a load takes the
// saved group's options); the overrides go through load_state_dict's checks.
inline Dict with_group_options(const Dict& state_dict, const Dict& options, bool only_if_absent) {
  Dict out = state_dict;
  Value* groups = out.find("param_groups");
  if (groups && groups->is_list())
    for (Value& g : groups->to_list().items)
      if (g.is_dict())
        for (const auto& [key, value] : options) {
          if (only_if_absent)
            g.to_dict().setdefault(key, value);
          else
            g.to_dict().set(key, value);
        }
  return out;
}

// Fresh params with the groups' structure (a param listed twice stays one
// tensor), so that one optimizer's steps do not leak into the next one's.
inline std::vector<ParamGroup> fresh_params(std::vector<ParamGroup> groups) {
  std::map<const TensorImpl*, Tensor> copies;
  for (ParamGroup& g : groups)
    for (Tensor& p : g.params) {
      auto it = copies.find(p.unsafe_get_impl());
      if (it == copies.end()) it = copies.emplace(p.unsafe_get_impl(), p.clone().requires_grad_(true)).first;
      p = it->second;
    }
  return groups;
}

// Builds the optimizer, loads the state dict, and steps twice with grads set.
template <typename Make>
void load_and_step(const std::vector<ParamGroup>& groups, const Dict& state_dict, Make make) {
  try {
    std::unique_ptr<optim::Optimizer> opt = make(optim::Params(fresh_params(groups)));
    opt->load_state_dict(state_dict);
    for (const ParamGroup& g : opt->param_groups())
      for (const Tensor& p : g.params) p.set_grad(full_like(p, 0.25));
    opt->step();
    opt->step();
    (void)opt->state_dict();
  } catch (const Error&) {
  }
}

inline void feed_optimizers(const Value& value) {
  const std::vector<ParamGroup> groups = params_for(value);
  if (groups.empty()) return;
  const Dict& sd = value.to_dict();
  load_and_step(groups, with_group_options(sd, Dict{{"fused", true}, {"foreach", false}}, false),
                [](optim::Params p) { return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.fused = true}); });
  load_and_step(groups, with_group_options(sd, Dict{{"fused", false}, {"foreach", false}}, false), [](optim::Params p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.foreach = false, .fused = false});
  });
  // An Adam state dict carries no momentum: SGD's default would skip the momentum buffer.
  load_and_step(groups, with_group_options(sd, Dict{{"momentum", 0.9}}, true), [](optim::Params p) {
    return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  });
}

}  // namespace descent::testing
