#pragma once
// nn::Sequential — modules applied one after another (torch.nn.Sequential).
// Children are named "0", "1", ... as in PyTorch.
//
//   nn::Sequential model(nn::Linear(2, 3), nn::Sigmoid(), nn::Linear(3, 1));
//   auto first = model.at<nn::Linear>(0);
#include <memory>
#include <type_traits>
#include <vector>

#include "descent/autograd/nn/module.h"

namespace descent::nn {

/// Modules applied in order, the output of each feeding the next.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  // Modules by value (moved into the container) or as shared_ptrs.
  template <typename... M,
            std::enable_if_t<(sizeof...(M) > 0) &&
                                 !(sizeof...(M) == 1 && (std::is_same_v<std::decay_t<M>, Sequential> && ...)),
                             int> = 0>
  explicit Sequential(M&&... modules) {
    (push_back(std::forward<M>(modules)), ...);
  }

  void push_back(std::shared_ptr<Module> module);
  template <typename M, std::enable_if_t<std::is_base_of_v<Module, std::decay_t<M>>, int> = 0>
  void push_back(M&& module) {
    push_back(std::shared_ptr<Module>(std::make_shared<std::decay_t<M>>(std::forward<M>(module))));
  }
  template <typename M>
  void push_back(std::shared_ptr<M> module) {
    push_back(std::shared_ptr<Module>(std::move(module)));
  }

  Tensor forward(const Tensor& input) override;
  std::size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](std::size_t index) const;
  // The module at index as M (TypeError if it is not one).
  template <typename M>
  std::shared_ptr<M> at(std::size_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    if (!m)
      raise<TypeError>("Sequential::at: module ", index, " is a ", (*this)[index]->name(),
                       ", not the requested type");
    return m;
  }
  std::shared_ptr<Module> clone() const override;
  std::string name() const override { return "Sequential"; }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace descent::nn
