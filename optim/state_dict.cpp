// Optimizer::state_dict and load_state_dict (optimizer-base.md §6-8). A load
// validates and converts everything into fresh objects first and only then
// replaces the optimizer's groups and state: a failed load changes nothing.
#include <unordered_map>

#include "descent/optim/optimizer.h"
#include "descent/tensor/ops.h"
#include "optim/key_hash.h"

namespace descent::optim {

Dict Optimizer::state_dict() {
  for (const auto& entry : std::vector(state_dict_pre_hooks_->hooks)) entry.second(*this);
  std::unordered_map<const TensorImpl*, int64_t> ids;
  int64_t start = 0;
  List groups;
  for (const ParamGroup& group : param_groups_) {
    Dict packed = group.options;
    if (group.param_names) {
      std::vector<Value> names(group.param_names->begin(), group.param_names->end());
      packed.set("param_names", Value::list(std::move(names)));
    }
    List id_list;
    for (std::size_t k = 0; k < group.params.size(); ++k) {
      // A tensor seen before keeps its first id, so duplicated groups pack identically.
      auto [it, inserted] = ids.emplace(group.params[k].unsafe_get_impl(), start + static_cast<int64_t>(k));
      id_list.items.emplace_back(it->second);
    }
    packed.set("params", std::move(id_list));
    start += static_cast<int64_t>(group.params.size());
    groups.items.emplace_back(std::move(packed));
  }
  Dict state;
  for (const auto& [param, param_state] : state_.entries()) {
    auto it = ids.find(param.unsafe_get_impl());
    if (it != ids.end()) state.set(it->second, param_state);
  }
  for (const auto& [key, value] : state_.extra) state.set(key, value);
  Dict sd{{"state", std::move(state)}, {"param_groups", std::move(groups)}};
  for (const auto& entry : std::vector(state_dict_post_hooks_->hooks))
    if (auto replaced = entry.second(*this, sd)) sd = std::move(*replaced);
  return sd;
}

namespace {
// §7.1: loaded state follows its parameter's device (and dtype, for floating
// parameters); `step` keeps its own dtype unless the group is fused or
// capturable. Tensors are always copied: loaded state never aliases the
// caller's dict.
Value cast_state_value(const Value& value, const Tensor& param, const std::string* key, bool fused_or_capturable) {
  if (value.is_tensor()) {
    const Tensor& t = value.to_tensor();
    if (!t.defined()) return value;
    if (key && *key == "step") {
      if (fused_or_capturable) return t.to(param.device(), kFloat32, true);
      return t.clone();
    }
    if (param.is_floating_point()) return t.to(param.device(), param.dtype(), true);
    return t.to(param.device(), true);
  }
  if (value.is_dict()) {
    Dict out;
    for (const auto& [k, v] : value.to_dict()) out.set(k, cast_state_value(v, param, std::get_if<std::string>(&k), fused_or_capturable));
    return out;
  }
  if (value.is_list()) {
    List out{{}, value.to_list().is_tuple};
    for (const Value& v : value.to_list().items) out.items.push_back(cast_state_value(v, param, nullptr, fused_or_capturable));
    return out;
  }
  return value;
}

bool flag(const Dict& group, const char* key) {
  const Value* v = group.find(key);
  return v && v->is_bool() && v->to_bool();
}
}  // namespace

void Optimizer::load_state_dict(const Dict& state_dict) {
  Dict sd = state_dict;
  for (const auto& entry : std::vector(load_pre_hooks_->hooks))
    if (auto replaced = entry.second(*this, sd)) sd = std::move(*replaced);

  const Value* state_value = sd.find("state");
  const Value* groups_value = sd.find("param_groups");
  if (!state_value || !state_value->is_dict())
    raise<ValueError>(name_, ".load_state_dict: the state dict needs a 'state' entry that is a dict");
  if (!groups_value || !groups_value->is_list())
    raise<ValueError>(name_, ".load_state_dict: the state dict needs a 'param_groups' entry that is a list");
  const auto& saved_groups = groups_value->to_list().items;
  if (saved_groups.size() != param_groups_.size())
    raise<ValueError>(name_, ".load_state_dict: loaded state dict has a different number of parameter groups (",
                      saved_groups.size(), " saved, ", param_groups_.size(), " in the optimizer)");

  // Positional matching of saved ids to current parameters. The ids come from
  // the (possibly loaded, untrusted) state dict: a keyed hash keeps crafted ids
  // from piling into one bucket.
  std::unordered_map<int64_t, std::pair<Tensor, std::size_t>, descent::detail::KeyedHash> id_map;
  std::vector<ParamGroup> new_groups;
  for (std::size_t g = 0; g < saved_groups.size(); ++g) {
    if (!saved_groups[g].is_dict())
      raise<ValueError>(name_, ".load_state_dict: param_groups[", g, "] must be a dict, got ", saved_groups[g].type_name());
    const Dict& saved = saved_groups[g].to_dict();
    const Value* ids = saved.find("params");
    if (!ids || !ids->is_list())
      raise<ValueError>(name_, ".load_state_dict: param_groups[", g, "] needs a 'params' list of parameter ids");
    const ParamGroup& current = param_groups_[g];
    if (ids->to_list().items.size() != current.params.size())
      raise<ValueError>(name_, ".load_state_dict: loaded state dict contains a parameter group that doesn't match the "
                               "size of optimizer's group (group ", g, ": ", ids->to_list().items.size(), " saved, ",
                        current.params.size(), " in the optimizer)");
    for (std::size_t k = 0; k < current.params.size(); ++k) {
      const Value& id = ids->to_list().items[k];
      if (!id.is_int())
        raise<ValueError>(name_, ".load_state_dict: param_groups[", g, "]['params'][", k, "] must be an int id, got ",
                          id.type_name());
      id_map.emplace(id.to_int(), std::make_pair(current.params[k], g));
    }
    ParamGroup ng;
    ng.params = current.params;
    ng.param_names = current.param_names;
    for (const auto& [key, value] : saved) {
      const std::string* name = std::get_if<std::string>(&key);
      if (!name)
        raise<ValueError>(name_, ".load_state_dict: param_groups[", g, "] has a non-string key ", key_to_string(key));
      if (*name == "params") continue;
      if (*name == "param_names") {
        if (!value.is_list() || value.to_list().items.size() != current.params.size())
          raise<ValueError>(name_, ".load_state_dict: param_groups[", g, "]['param_names'] must be a list of ",
                            current.params.size(), " names");
        std::vector<std::string> names;
        for (const Value& n : value.to_list().items) {
          if (!n.is_string())
            raise<ValueError>(name_, ".load_state_dict: param_groups[", g, "]['param_names'] must hold strings, got ",
                              n.type_name());
          names.push_back(n.to_string_value());
        }
        ng.param_names = std::move(names);
        continue;
      }
      ng.options.set(key, descent::deepcopy(value));
    }
    new_groups.push_back(std::move(ng));
  }

  OptimizerState new_state;
  for (const auto& [key, value] : state_value->to_dict()) {
    const int64_t* id = std::get_if<int64_t>(&key);
    auto it = id ? id_map.find(*id) : id_map.end();
    if (it == id_map.end()) {
      // An id no group lists would leave its state behind, unused: the
      // state dict belongs to other params (or was edited).
      if (id)
        raise<ValueError>(name_, ".load_state_dict: state has an entry for parameter id ", *id,
                          ", but no param group lists that id (the state dict's 'params' and 'state' disagree)");
      new_state.extra.set(key, descent::deepcopy(value));
      continue;
    }
    if (!value.is_dict())
      raise<ValueError>(name_, ".load_state_dict: state[", *id, "] must be a dict, got ", value.type_name());
    const auto& [param, g] = it->second;
    // Casting to the param's dtype must not lose what the tensor holds.
    if (param.is_floating_point() || param.is_complex())
      for (const auto& [k, v] : value.to_dict()) {
        if (!v.is_tensor() || !v.to_tensor().defined()) continue;
        const Tensor& t = v.to_tensor();
        if (t.is_complex() && !param.is_complex())
          raise<ValueError>(name_, ".load_state_dict: state[", *id, "][", key_to_string(k),
                            "] is complex, but its parameter is real (casting would drop the imaginary part)");
        if (!t.is_complex() && !t.is_floating_point())
          raise<TypeError>(name_, ".load_state_dict: state[", *id, "][", key_to_string(k),
                           "] must be a floating-point tensor, got ", to_string(t.dtype()));
      }
    const Dict& saved_group = saved_groups[g].to_dict();
    bool fused_or_capturable = flag(saved_group, "fused") || flag(saved_group, "capturable");
    new_state[param] = cast_state_value(value, param, nullptr, fused_or_capturable).to_dict();
  }
  for (ParamGroup& group : new_groups) {
    setstate_group_defaults(group);
    for (const Tensor& p : group.params)
      if (Dict* s = new_state.find(p)) upgrade_param_state(group, p, *s);
  }
  for (std::size_t g = 0; g < new_groups.size(); ++g) check_loaded_group(new_groups[g], g, new_state);

  param_groups_ = std::move(new_groups);
  state_ = std::move(new_state);
  for (const auto& entry : std::vector(load_post_hooks_->hooks)) entry.second(*this);
}

}  // namespace descent::optim
