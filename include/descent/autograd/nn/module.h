#pragma once
// descent::nn::Module — torch.nn.Module: a tree of modules owning named
// parameters (tensors that require grad) and buffers (state such as
// BatchNorm's running statistics), with train/eval mode and state dicts.
//
// A module keeps its parameters both as members (`linear.weight`) and in an
// ordered registry (named_parameters, state_dict); both hold the same tensor.
// To replace a parameter, call register_parameter with its name again.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "descent/tensor/generator.h"
#include "descent/tensor/tensor.h"

namespace descent::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// What load_state_dict(strict = false) could not match.
struct IncompatibleKeys {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

/// Base of neural-network modules: named parameters, buffers and children, train/eval mode, state_dict.
class Module {
 public:
  virtual ~Module() = default;

  // The computation of single-input modules (Sequential calls it).
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // ---- the module tree ----
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(const std::string& prefix = "", bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(const std::string& prefix = "", bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // This module and all its descendants, depth first (non-owning pointers).
  std::vector<Module*> modules();
  std::vector<std::pair<std::string, Module*>> named_modules(const std::string& prefix = "");
  // Calls fn on every descendant, then on this module.
  Module& apply(const std::function<void(Module&)>& fn);

  // ---- mode ----
  virtual Module& train(bool mode = true);
  Module& eval() { return train(false); }
  bool is_training() const { return training_; }

  // Clears the .grad of every parameter (set_to_none: undefined, else zeros).
  void zero_grad(bool set_to_none = true);

  // ---- state ----
  // Parameters and persistent buffers, depth first, as detached tensors that
  // share the module's memory (PyTorch's state_dict()).
  NamedTensors state_dict(const std::string& prefix = "") const;
  // Copies the values in (converting dtype and device). strict: every key must
  // match both ways, else RuntimeError listing the missing and unexpected keys.
  IncompatibleKeys load_state_dict(const NamedTensors& state_dict, bool strict = true);

  // Converts floating point parameters and buffers (in place: the tensors keep their identity).
  Module& to(Dtype dtype);
  Module& to(Device device);
  Module& to(Device device, Dtype dtype);

  // A deep copy with its own parameters and buffers (copy.deepcopy(module)).
  virtual std::shared_ptr<Module> clone() const;

  // ---- registration ----
  Tensor register_parameter(const std::string& name, Tensor param, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor buffer, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // The class name ("Linear") and the text between its parentheses in repr().
  virtual std::string name() const = 0;
  virtual std::string extra_repr() const { return ""; }
  // PyTorch's print(model).
  std::string repr() const;

 protected:
  Module() = default;
  Module(const Module&) = default;
  Module& operator=(const Module&) = default;

  // For clone(): forget every registration (reset() then registers anew)...
  void clear_registrations();
  // ...and take over the values of `source`, registration by registration.
  void copy_state_from(const Module& source);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);

  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };
  NamedTensors parameters_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

/// Base of modules that can be deep-copied: reset() (re)creates and registers
/// the parameters, buffers and submodules; clone() copies the values over.
template <typename Derived>
class Cloneable : public Module {
 public:
  virtual void reset() = 0;
  std::shared_ptr<Module> clone() const override {
    auto copy = std::make_shared<Derived>(static_cast<const Derived&>(*this));
    copy->clear_registrations();
    // reset() may build submodules that draw their initial values: the copy
    // must not move the random stream.
    Generator saved = default_generator();
    copy->reset();
    default_generator() = saved;
    copy->copy_state_from(*this);
    return copy;
  }
};

std::ostream& operator<<(std::ostream& out, const Module& module);

}  // namespace descent::nn
