// nn::Module: registration, traversal, modes, state dicts, conversion, repr.
#include "descent/autograd/nn/module.h"

#include <algorithm>
#include <sstream>
#include <unordered_set>

#include "descent/autograd/autograd.h"
#include "descent/warning.h"

namespace descent::nn {

namespace {
std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

void check_name(const char* what, const std::string& name) {
  if (name.empty()) raise<KeyError>(what, " name can't be empty string \"\"");
  if (name.find('.') != std::string::npos) raise<KeyError>(what, " name can't contain \".\", got: ", name);
}

// Every line but the first indented by `spaces` (PyTorch's _addindent).
std::string add_indent(const std::string& s, int spaces) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n') out += std::string(static_cast<std::size_t>(spaces), ' ');
  }
  return out;
}

std::string quoted_list(const std::vector<std::string>& keys) {
  std::string s;
  for (std::size_t i = 0; i < keys.size(); ++i) s += (i ? ", \"" : "\"") + keys[i] + "\"";
  return s;
}
}  // namespace

Tensor Module::forward(const Tensor&) {
  raise<NotImplementedError>("Module [", name(), "] is missing the required \"forward\" function");
}

NamedTensors Module::named_parameters(const std::string& prefix, bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  // Depth first, children in registration order; a shared tensor is listed once.
  std::function<void(const std::string&, const Module&)> visit = [&](const std::string& p, const Module& m) {
    for (const auto& [name, t] : m.parameters_)
      if (seen.insert(t.unsafe_get_impl()).second) out.emplace_back(join_name(p, name), t);
    if (recurse)
      for (const auto& [name, child] : m.children_) visit(join_name(p, name), *child);
  };
  visit(prefix, *this);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters("", recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(const std::string& prefix, bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  std::function<void(const std::string&, const Module&)> visit = [&](const std::string& p, const Module& m) {
    for (const Buffer& b : m.buffers_)
      if (seen.insert(b.tensor.unsafe_get_impl()).second) out.emplace_back(join_name(p, b.name), b.tensor);
    if (recurse)
      for (const auto& [name, child] : m.children_) visit(join_name(p, name), *child);
  };
  visit(prefix, *this);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_buffers("", recurse)) out.push_back(t);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [name, child] : children_) out.push_back(child);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  return children_;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules(const std::string& prefix) {
  std::vector<std::pair<std::string, Module*>> out;
  std::unordered_set<const Module*> seen;
  std::function<void(const std::string&, Module&)> visit = [&](const std::string& p, Module& m) {
    if (!seen.insert(&m).second) return;
    out.emplace_back(p, &m);
    for (auto& [name, child] : m.children_) visit(join_name(p, name), *child);
  };
  visit(prefix, *this);
  return out;
}

std::vector<Module*> Module::modules() {
  std::vector<Module*> out;
  for (auto& [name, m] : named_modules()) out.push_back(m);
  return out;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, child] : children_) child->apply(fn);
  fn(*this);
  return *this;
}

Module& Module::train(bool mode) {
  training_ = mode;
  for (auto& [name, child] : children_) child->train(mode);
  return *this;
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    Tensor& g = p.mutable_grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      g = Tensor();
      continue;
    }
    if (g.grad_fn()) {
      g.detach_();
    } else {
      g.requires_grad_(false);
    }
    g.zero_();
  }
}

NamedTensors Module::state_dict(const std::string& prefix) const {
  NamedTensors out;
  for (const auto& [name, t] : parameters_) out.emplace_back(join_name(prefix, name), t.detach());
  for (const Buffer& b : buffers_)
    if (b.persistent) out.emplace_back(join_name(prefix, b.name), b.tensor.detach());
  for (const auto& [name, child] : children_) {
    NamedTensors sub = child->state_dict(join_name(prefix, name));
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

IncompatibleKeys Module::load_state_dict(const NamedTensors& state_dict, bool strict) {
  NamedTensors own = this->state_dict();
  IncompatibleKeys result;
  std::vector<std::string> errors;
  std::unordered_set<std::string> own_keys;
  for (const auto& [key, target] : own) own_keys.insert(key);
  autograd::NoGradGuard no_grad;
  for (const auto& [key, target] : own) {
    auto it =
        // `name`, not `key`: clang before 16 cannot capture a structured binding.
        std::find_if(state_dict.begin(), state_dict.end(), [&name = key](const auto& kv) { return kv.first == name; });
    if (it == state_dict.end()) {
      result.missing_keys.push_back(key);
      continue;
    }
    const Tensor& value = it->second;
    if (value.sizes() != target.sizes()) {
      errors.push_back("size mismatch for " + key + ": copying a param with shape " +
                       shape_to_string(value.sizes()) + " from checkpoint, the shape in current model is " +
                       shape_to_string(target.sizes()) + ".");
      continue;
    }
    Tensor dst = target;
    dst.copy_(value);
  }
  for (const auto& [key, value] : state_dict)
    if (!own_keys.count(key)) result.unexpected_keys.push_back(key);
  if (strict) {
    if (!result.unexpected_keys.empty())
      errors.insert(errors.begin(),
                    "Unexpected key(s) in state_dict: " + quoted_list(result.unexpected_keys) + ". ");
    if (!result.missing_keys.empty())
      errors.insert(errors.begin(),
                    "Missing key(s) in state_dict: " + quoted_list(result.missing_keys) + ". ");
  }
  if (!errors.empty()) {
    std::string msg = "Error(s) in loading state_dict for " + name() + ":";
    for (const std::string& e : errors) msg += "\n\t" + e;
    throw RuntimeError(msg);
  }
  return result;
}

namespace {
void convert(const Tensor& t, std::optional<Device> device, std::optional<Dtype> dtype) {
  bool float_like = t.is_floating_point() || t.is_complex();
  Dtype target = dtype && float_like ? *dtype : t.dtype();
  Device where = device.value_or(t.device());
  if (target == t.dtype() && where == t.device()) return;
  autograd::NoGradGuard no_grad;
  autograd::set_data(t, t.detach().to(where, target));
  Tensor handle = t;
  Tensor& g = handle.mutable_grad();
  if (g.defined()) g = g.to(where, target);
}
}  // namespace

Module& Module::to(Device device, Dtype dtype) {
  if (!is_floating_point(dtype) && !descent::is_complex(dtype))
    raise<TypeError>("nn.Module.to only accepts floating point or complex dtypes, but got desired dtype=",
                     to_string(dtype));
  for (Module* m : modules()) {
    for (auto& [name, p] : m->parameters_) convert(p, device, dtype);
    for (Buffer& b : m->buffers_) convert(b.tensor, device, dtype);
  }
  return *this;
}

Module& Module::to(Dtype dtype) {
  if (!is_floating_point(dtype) && !descent::is_complex(dtype))
    raise<TypeError>("nn.Module.to only accepts floating point or complex dtypes, but got desired dtype=",
                     to_string(dtype));
  for (Module* m : modules()) {
    for (auto& [name, p] : m->parameters_) convert(p, std::nullopt, dtype);
    for (Buffer& b : m->buffers_) convert(b.tensor, std::nullopt, dtype);
  }
  return *this;
}

Module& Module::to(Device device) {
  for (Module* m : modules()) {
    for (auto& [name, p] : m->parameters_) convert(p, device, std::nullopt);
    for (Buffer& b : m->buffers_) convert(b.tensor, device, std::nullopt);
  }
  return *this;
}

std::shared_ptr<Module> Module::clone() const {
  raise<NotImplementedError>("clone: ", name(),
                             " does not support deep copies; derive it from nn::Cloneable<", name(),
                             "> and implement reset()");
}

Tensor Module::register_parameter(const std::string& name, Tensor param, bool requires_grad) {
  check_name("parameter", name);
  if (!param.defined())
    raise<ValueError>("register_parameter: parameter \"", name, "\" is an undefined tensor");
  if (!param.is_leaf())
    raise<ValueError>("Cannot assign non-leaf Tensor to parameter '", name,
                      "'. Model parameters must be created explicitly. To express '", name,
                      "' as a function of another Tensor, compute the value in the forward() method.");
  param.requires_grad_(requires_grad);
  for (auto& [n, p] : parameters_)
    if (n == name) return p = param;
  parameters_.emplace_back(name, param);
  return param;
}

Tensor Module::register_buffer(const std::string& name, Tensor buffer, bool persistent) {
  check_name("buffer", name);
  for (Buffer& b : buffers_)
    if (b.name == name) {
      b.tensor = buffer;
      b.persistent = persistent;
      return buffer;
    }
  buffers_.push_back({name, buffer, persistent});
  return buffer;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_name("module", name);
  if (!module) raise<ValueError>("register_module: submodule \"", name, "\" is null");
  for (auto& [n, m] : children_)
    if (n == name) {
      m = std::move(module);
      return;
    }
  children_.emplace_back(name, std::move(module));
}

void Module::clear_registrations() {
  parameters_.clear();
  buffers_.clear();
  children_.clear();
}

void Module::copy_state_from(const Module& source) {
  autograd::NoGradGuard no_grad;
  auto find = [&](const auto& list, const std::string& key, const char* what) -> const auto& {
    for (const auto& entry : list)
      if (entry.first == key) return entry.second;
    raise<RuntimeError>("clone: the copy of ", name(), " registers ", what, " \"", key,
                        "\" that the original does not have; reset() must register the same names");
  };
  for (auto& [key, p] : parameters_) {
    const Tensor& src = find(source.parameters_, key, "parameter");
    autograd::set_data(p, src.detach().clone());
    p.requires_grad_(src.requires_grad());
    if (src.grad().defined()) p.mutable_grad() = src.grad().clone();
  }
  for (Buffer& b : buffers_) {
    auto it = std::find_if(source.buffers_.begin(), source.buffers_.end(),
                           [&](const Buffer& s) { return s.name == b.name; });
    if (it == source.buffers_.end())
      raise<RuntimeError>("clone: the copy of ", name(), " registers buffer \"", b.name,
                          "\" that the original does not have; reset() must register the same names");
    if (it->tensor.defined()) autograd::set_data(b.tensor, it->tensor.clone());
    b.persistent = it->persistent;
  }
  for (auto& [key, child] : children_) child->copy_state_from(*find(source.children_, key, "submodule"));
  training_ = source.training_;
}

std::string Module::repr() const {
  std::vector<std::string> lines;
  std::string extra = extra_repr();
  std::vector<std::string> extra_lines;
  if (!extra.empty()) {
    std::istringstream in(extra);
    for (std::string line; std::getline(in, line);) extra_lines.push_back(line);
  }
  lines = extra_lines;
  for (const auto& [key, child] : children_)
    lines.push_back("(" + key + "): " + add_indent(child->repr(), 2));
  std::string s = name() + "(";
  if (!lines.empty()) {
    if (extra_lines.size() == 1 && children_.empty()) {
      s += extra_lines[0];
    } else {
      s += "\n  ";
      for (std::size_t i = 0; i < lines.size(); ++i) s += (i ? "\n  " : "") + lines[i];
      s += "\n";
    }
  }
  return s + ")";
}

std::ostream& operator<<(std::ostream& out, const Module& module) { return out << module.repr(); }

}  // namespace descent::nn
