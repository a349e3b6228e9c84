#pragma once
// Internal: the node type most backward formulas use. A FormulaNode has a
// PyTorch name, the tensors it saved, and a formula written with the public
// (differentiable) ops, so that running it with grad mode on (create_graph)
// records the graph of the gradient itself: double backward comes for free.
#include <functional>
#include <utility>

#include "autograd/record.h"
#include "descent/tensor/ops.h"

namespace descent::autograd {

class FormulaNode : public Node {
 public:
  // grads: gradients of the forward outputs; returns one gradient per input.
  using Formula = std::function<tensor_list(FormulaNode& node, const tensor_list& grads)>;

  explicit FormulaNode(const char* name) : name_(name) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& grads) override { return formula(*this, grads); }
  void release_variables() override {
    for (SavedVariable& s : saved_) s.reset_data();
  }

  // Saves t for the formula and returns its slot; is_output for the node's own output.
  std::size_t save(const Tensor& t, bool is_output = false) {
    saved_.emplace_back(t, is_output);
    return saved_.size() - 1;
  }
  Tensor saved(std::size_t slot) { return saved_.at(slot).unpack(shared_from_this()); }
  // Whether the gradient of forward input i is wanted.
  bool wants(std::size_t i) const { return should_compute_output(i); }

  Formula formula;

 private:
  const char* name_;
  std::vector<SavedVariable> saved_;
};

// A FormulaNode connected to the inputs (undefined inputs get invalid edges).
inline std::shared_ptr<FormulaNode> formula_node(const char* name,
                                                 std::initializer_list<const Tensor*> inputs) {
  return make_node<FormulaNode>(inputs, name);
}

// Sets the node as out's history and returns out.
inline Tensor finish(Tensor out, const std::shared_ptr<Node>& node) {
  set_history(out, node);
  return out;
}

// The complex conjugate of a number (itself for real numbers).
inline Scalar conj_scalar(const Scalar& s) { return s.is_complex() ? Scalar(std::conj(s.to_complex())) : s; }

// grad * s, skipping the multiplication when s is 1 (as PyTorch's maybe_multiply).
inline Tensor maybe_multiply(const Tensor& grad, const Scalar& s) {
  if (!s.is_complex() && s.to_double() == 1.0) return grad;
  return mul(grad, s);
}

}  // namespace descent::autograd
