#pragma once
// Custom differentiable operations (torch.autograd.Function / libtorch's
// torch::autograd::Function): write forward and backward yourself.
//
//   struct Cube : autograd::Function<Cube> {
//     static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x) {
//       ctx->save_for_backward({x});
//       return x * x * x;
//     }
//     static autograd::tensor_list backward(autograd::AutogradContext* ctx, autograd::tensor_list grads) {
//       Tensor x = ctx->get_saved_variables()[0];
//       return {grads[0] * 3 * x * x};
//     }
//   };
//   Tensor y = Cube::apply(x);
//
// forward runs without recording; it returns a Tensor or a tensor_list.
// backward receives one gradient per output and returns one per Tensor
// argument of forward (an undefined Tensor for "no gradient"). It is written
// with ordinary ops, so it is itself differentiable under create_graph.
#include <any>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include "descent/autograd/grad_mode.h"
#include "descent/autograd/node.h"

namespace descent::autograd {

/// What a custom Function's forward hands to its backward: saved tensors, non-differentiable outputs, and free-form data.
class AutogradContext {
 public:
  // Tensors backward needs; checked against in-place modification on unpack.
  void save_for_backward(std::vector<Tensor> tensors) { to_save_ = std::move(tensors); }
  std::vector<Tensor> get_saved_variables() const;
  // Outputs that are not differentiable (e.g. indices): no history, no gradient.
  void mark_non_differentiable(const std::vector<Tensor>& outputs);
  // Whether the gradient of Tensor argument i is wanted.
  bool needs_input_grad(std::size_t i) const { return i < needs_input_grad_.size() && needs_input_grad_[i]; }
  // Anything else backward needs (numbers, shapes, flags).
  std::unordered_map<std::string, std::any> saved_data;

 private:
  friend class CustomNode;
  std::vector<Tensor> to_save_;
  std::vector<SavedVariable> saved_;
  std::vector<const TensorImpl*> non_differentiable_;
  std::vector<bool> needs_input_grad_;
  std::weak_ptr<Node> node_;
};

/// The node of one custom function call.
class CustomNode : public Node {
 public:
  using Backward = tensor_list (*)(AutogradContext*, tensor_list);
  CustomNode(std::string name, Backward backward) : name_(std::move(name)), backward_(backward) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& grads) override;
  void release_variables() override;
  AutogradContext& context() { return ctx_; }

  // Prepares the context before forward: which inputs need a gradient.
  void begin(const tensor_list& inputs);
  // Connects the outputs after forward and saves what forward asked for.
  void finish(const tensor_list& inputs, tensor_list& outputs);

 private:
  std::string name_;
  Backward backward_;
  AutogradContext ctx_;
};

// "Cube" for struct Cube: the class name, for node names.
std::string demangled_name(const char* mangled);

/// Base for a user-defined differentiable operation: T supplies static forward(ctx, ...) and backward(ctx, grads), apply() records the node.
template <typename T>
struct Function {
  template <typename... Args>
  static auto apply(Args&&... args) {
    auto node = std::make_shared<CustomNode>(demangled_name(typeid(T).name()) + "Backward", &T::backward);
    tensor_list inputs;
    (collect(inputs, args), ...);
    node->begin(inputs);
    using Result = decltype(T::forward(&node->context(), std::forward<Args>(args)...));
    static_assert(std::is_same_v<Result, Tensor> || std::is_same_v<Result, tensor_list>,
                  "Function::forward must return a Tensor or a tensor_list");
    tensor_list outputs;
    {
      NoGradGuard no_grad;
      if constexpr (std::is_same_v<Result, Tensor>) {
        outputs.push_back(T::forward(&node->context(), std::forward<Args>(args)...));
      } else {
        outputs = T::forward(&node->context(), std::forward<Args>(args)...);
      }
    }
    node->finish(inputs, outputs);
    if constexpr (std::is_same_v<Result, Tensor>) {
      return outputs[0];
    } else {
      return outputs;
    }
  }

 private:
  template <typename A>
  static void collect(tensor_list& inputs, const A& arg) {
    if constexpr (std::is_same_v<std::decay_t<A>, Tensor>) inputs.push_back(arg);
  }
};

}  // namespace descent::autograd
