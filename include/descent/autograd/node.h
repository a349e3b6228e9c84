#pragma once
// The recorded graph: a Node is one backward function (PyTorch's
// torch.autograd.graph.Node, e.g. MulBackward0). It receives the gradients
// of its forward outputs and returns the gradients of its forward inputs,
// which flow along its next edges to the nodes that produced those inputs
// (or to the AccumulateGrad node of a leaf).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "descent/tensor/tensor.h"

namespace descent::autograd {

class Node;
using tensor_list = std::vector<Tensor>;

/// Where a gradient goes: input `input_nr` of `function`.
struct Edge {
  std::shared_ptr<Node> function;
  uint32_t input_nr = 0;
  bool is_valid() const { return function != nullptr; }
};

/// Shape, dtype and device a gradient flowing into a node must have.
struct InputMetadata {
  Shape shape;
  Dtype dtype = kFloat32;
  Device device;
};

/// A node of the backward graph: one recorded operation, its inputs' edges and its backward function.
class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  // AccumulateGrad runs as soon as it is ready: it gets the largest sequence number.
  explicit Node(uint64_t sequence_nr) : sequence_nr_(sequence_nr) {}
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // PyTorch's class name of this backward function, e.g. "MulBackward0".
  virtual std::string name() const = 0;
  // grads[i] is the gradient of forward output i (always defined). Returns one
  // gradient per next edge; an undefined tensor means "no gradient".
  virtual tensor_list apply(tensor_list&& grads) = 0;
  // Frees saved tensors after a backward pass that does not retain the graph.
  virtual void release_variables() {}

  const std::vector<Edge>& next_edges() const { return next_edges_; }
  const Edge& next_edge(std::size_t i) const { return next_edges_.at(i); }
  void set_next_edges(std::vector<Edge> edges) { next_edges_ = std::move(edges); }
  // Whether the gradient of forward input i is wanted by anybody.
  bool should_compute_output(std::size_t i) const {
    return i < next_edges_.size() && next_edges_[i].is_valid();
  }

  // One entry per forward output.
  uint32_t add_input_metadata(const Tensor& t);
  const InputMetadata& input_metadata(std::size_t i) const { return input_metadata_.at(i); }
  std::size_t num_inputs() const { return input_metadata_.size(); }

  // Order of creation; the engine runs later nodes first (as PyTorch does).
  uint64_t sequence_nr() const { return sequence_nr_; }

  // Tensors that asked for retain_grad(): the gradient of output `output_nr`
  // is stored into their .grad when this node runs.
  void add_retained_grad(uint32_t output_nr, const std::weak_ptr<TensorImpl>& tensor);
  void remove_retained_grad(const TensorImpl* tensor);
  const std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>>& retained_grads() const {
    return retained_;
  }

 private:
  uint64_t sequence_nr_;
  std::vector<Edge> next_edges_;
  std::vector<InputMetadata> input_metadata_;
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained_;
};

/// A tensor saved for backward (torch's SavedVariable). Remembers the storage
/// version at save time and refuses to unpack once the tensor was modified in
/// place, or after the graph was freed.
class SavedVariable {
 public:
  SavedVariable() = default;
  // is_output: the tensor is an output of the node that saves it. Outputs and
  // computed tensors are stored without their autograd state (holding it
  // could form a reference cycle) and given their history back on unpack.
  SavedVariable(const Tensor& t, bool is_output);
  // saved_for: the node that saved it (needed to rebuild an output's history).
  Tensor unpack(const std::shared_ptr<Node>& saved_for = nullptr) const;
  void reset_data();

 private:
  Tensor data_;
  std::shared_ptr<Node> history_;  // a non-output's grad_fn when it was saved
  std::weak_ptr<TensorImpl> original_;  // to name its current grad_fn in errors
  int64_t saved_version_ = 0;
  uint32_t output_nr_ = 0;
  bool saved_ = false;
  bool is_output_ = false;
  bool requires_grad_ = false;
  bool released_ = false;
};

// The AccumulateGrad node of a leaf that requires grad (created on demand).
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);
// The edge a gradient of t must be sent along: (grad_fn, output_nr) for a
// computed tensor, the AccumulateGrad node for a leaf that requires grad,
// an invalid edge otherwise.
Edge gradient_edge(const Tensor& t);

}  // namespace descent::autograd
