#include "optim/state_cache.h"

#include "optim/fused_launch.h"

#include <algorithm>
#include <variant>

namespace descent::optim::detail {

namespace {
// Keys are short: an inline loop beats a call to memcmp.
bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

std::size_t position_of(const Dict& dict, const std::string& key) {
  std::size_t i = 0;
  for (const auto& [k, v] : dict) {
    const std::string* name = std::get_if<std::string>(&k);
    if (name && same_key(*name, key)) return i;
    ++i;
  }
  return i;
}
}  // namespace

void StateCache::prefetch_items(const Entry& entry) {
  if (entry.param == nullptr || entry.dict->empty()) return;
  const char* items = reinterpret_cast<const char*>(&*entry.dict->begin());
  const std::size_t bytes = entry.dict->size() * sizeof(Dict::Item);
  for (std::size_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(items + offset);
}

const std::vector<StateCache::Tensors>& StateCache::no_state(std::size_t n) {
  resolved_.assign(n, Tensors{});
  return resolved_;
}

const std::vector<StateCache::Tensors>& StateCache::resolve(OptimizerState& state, std::size_t group_index,
                                                            const std::vector<ParamRef>& params,
                                                            const std::vector<std::string>& keys, const Init& init) {
  if (keys.size() > kMaxKeys)
    raise<RuntimeError>("StateCache: at most ", kMaxKeys, " state keys, got ", keys.size());
  if (groups_.size() <= group_index) groups_.resize(group_index + 1);
  Group& group = groups_[group_index];
  if (group.generation != state.generation() || group.keys != keys) {
    group.generation = state.generation();
    group.keys = keys;
    group.entries.clear();
  }
  if (!params.empty() && group.entries.size() <= params.back().index)
    group.entries.resize(params.back().index + 1);

  std::vector<Tensors>& out = resolved_;
  out.assign(params.size(), Tensors{});
  for (std::size_t k = 0; k < params.size(); ++k) {
    if (k + kPrefetchDistance < params.size())
      prefetch_items(group.entries[params[k + kPrefetchDistance].index]);
    const Tensor& param = *params[k].param;
    Entry& entry = group.entries[params[k].index];
    Tensors& tensors = out[k];
    bool verified = entry.param != nullptr && entry.param == param.unsafe_get_impl();
    if (verified) {
      auto items = entry.dict->begin();
      const std::size_t size = entry.dict->size();
      for (std::size_t j = 0; verified && j < keys.size(); ++j) {
        const std::size_t at = entry.position[j];
        const std::string* name = at < size ? std::get_if<std::string>(&items[at].first) : nullptr;
        verified = name != nullptr && same_key(*name, keys[j]) && items[at].second.is_tensor();
        if (verified) {
          tensors.tensor[j] = &items[at].second.to_tensor();
          tensors.impl[j] = tensors.tensor[j]->unsafe_get_impl();
          verified = tensors.impl[j] != nullptr;
        }
      }
    }
    if (verified) continue;

    entry = Entry();
    Dict& dict = state[param];
    init(dict, k);
    bool cacheable = true;
    for (std::size_t j = 0; j < keys.size(); ++j) {
      tensors.tensor[j] = &dict.at(keys[j]).to_tensor();
      tensors.impl[j] = tensors.tensor[j]->unsafe_get_impl();
      // A loaded state dict may hold the format's undefined tensor: no kernel may see it.
      if (tensors.impl[j] == nullptr)
        raise<RuntimeError>("the state '", keys[j], "' of parameter ", params[k].index,
                            " is an undefined tensor (expected a tensor like the parameter)");
      std::size_t at = position_of(dict, keys[j]);
      cacheable = cacheable && at <= UINT8_MAX;
      entry.position[j] = static_cast<uint8_t>(at);
    }
    if (cacheable) {
      entry.param = param.unsafe_get_impl();
      entry.dict = &dict;
    }
  }
  return out;
}

bool StateCache::has_duplicates(std::size_t group_index, const std::vector<Tensor>& params) {
  if (groups_.size() <= group_index) groups_.resize(group_index + 1);
  Group& group = groups_[group_index];
  bool same = group.listed.size() == params.size();
  for (std::size_t i = 0; same && i < params.size(); ++i) same = group.listed[i] == params[i].unsafe_get_impl();
  if (same) return group.duplicates;
  group.listed.clear();
  for (const Tensor& p : params) group.listed.push_back(p.unsafe_get_impl());
  std::vector<const TensorImpl*> sorted = group.listed;
  std::sort(sorted.begin(), sorted.end());
  group.duplicates = std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
  return group.duplicates;
}

void check_state(const std::string& optimizer, const std::vector<ParamRef>& params,
                 const std::vector<StateCache::Tensors>& state, const std::vector<std::string>& keys,
                 const std::vector<StateShape>& shapes) {
  for (std::size_t k = 0; k < params.size(); ++k)
    for (std::size_t j = 0; j < keys.size(); ++j) {
      const TensorImpl& t = *state[k].impl[j];
      const TensorImpl& p = *params[k].param_impl;
      if (shapes[j] == StateShape::Scalar) {
        if (!impl::is_dense(t) || numel_of(t.sizes) != 1)
          raise<RuntimeError>(optimizer, ": the state '", keys[j], "' of parameter ", params[k].index,
                              " must be a one-element tensor, got shape ", shape_to_string(t.sizes));
      } else if (!impl::same_dense_layout(p, t)) {
        raise_layout_mismatch(optimizer, p, t, keys[j].c_str());
      }
    }
}

}  // namespace descent::optim::detail
