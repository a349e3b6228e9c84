// Graph nodes, saved variables and gradient edges.
#include "descent/autograd/node.h"

#include <atomic>
#include <cctype>
#include <limits>

#include "autograd/functions/functions.h"
#include "autograd/record.h"
#include "descent/autograd/autograd_meta.h"
#include "descent/autograd/node_name.h"
#include "tensor/native.h"

namespace descent::autograd {

namespace {
std::atomic<uint64_t> next_sequence_nr{0};

// PyTorch's legacy type name used in autograd messages: "torch.DoubleTensor".
std::string legacy_type_name(Dtype d) {
  switch (d) {
    case Dtype::Bool:
      return "torch.BoolTensor";
    case Dtype::Int64:
      return "torch.LongTensor";
    case Dtype::Float16:
      return "torch.HalfTensor";
    case Dtype::BFloat16:
      return "torch.BFloat16Tensor";
    case Dtype::Float32:
      return "torch.FloatTensor";
    case Dtype::Float64:
      return "torch.DoubleTensor";
    case Dtype::Complex64:
      return "torch.ComplexFloatTensor";
    case Dtype::Complex128:
      break;
  }
  return "torch.ComplexDoubleTensor";
}

// "Exp" for ExpBackward0: the forward op a node belongs to.
std::string forward_name(const Node& node) {
  std::string name = node.name();
  std::size_t end = name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
  const std::string suffix = "Backward";
  if (end >= suffix.size() && name.compare(end - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, end - suffix.size());
  return name;
}

// A new handle on the same data, with no autograd state.
Tensor plain_alias(const Tensor& t) { return native::alias(t); }
}  // namespace

Node::Node() : sequence_nr_(next_sequence_nr++) {}

uint32_t Node::add_input_metadata(const Tensor& t) {
  input_metadata_.push_back({t.sizes(), t.dtype(), t.device()});
  return static_cast<uint32_t>(input_metadata_.size() - 1);
}

void Node::add_retained_grad(uint32_t output_nr, const std::weak_ptr<TensorImpl>& tensor) {
  for (auto& [nr, existing] : retained_)
    if (nr == output_nr && existing.lock() == tensor.lock()) return;
  retained_.emplace_back(output_nr, tensor);
}

void Node::remove_retained_grad(const TensorImpl* tensor) {
  std::erase_if(retained_, [&](const auto& entry) { return entry.second.lock().get() == tensor; });
}

std::string node_name(const Node& node) { return node.name(); }

SavedVariable::SavedVariable(const Tensor& t, bool is_output) {
  if (!t.defined()) return;
  saved_ = true;
  is_output_ = is_output;
  saved_version_ = t.is_sparse() ? 0 : t._version();
  requires_grad_ = t.requires_grad();
  output_nr_ = meta_if_exists(t) ? meta_if_exists(t)->output_nr : 0;
  if (t.is_sparse() || (!is_output && t.is_leaf() && t.requires_grad())) {
    data_ = t;
    return;
  }
  // Any other tensor is kept without its autograd state: an output would keep
  // its own node alive, and a tensor written in place later would point its
  // new grad_fn at nodes that reach back here. Both are reference cycles. The
  // history a non-output had at save time is the one it is unpacked with (a
  // later in-place write fails the version check anyway).
  data_ = plain_alias(t);
  if (!is_output) {
    history_ = t.grad_fn();
    original_ = t.impl();
  }
}

void SavedVariable::reset_data() {
  if (!saved_) return;
  data_ = Tensor();
  history_ = nullptr;
  released_ = true;
}

Tensor SavedVariable::unpack(const std::shared_ptr<Node>& saved_for) const {
  if (!saved_) return Tensor();
  if (released_)
    raise<RuntimeError>(
        "Trying to backward through the graph a second time (or directly access saved tensors after they "
        "have "
        "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
        "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
        "or if "
        "you need to access saved tensors after calling backward.");
  int64_t current = data_.is_sparse() ? 0 : data_._version();
  if (current != saved_version_) {
    std::string what = "[" + legacy_type_name(data_.dtype()) + " " + shape_to_string(data_.sizes()) + "]";
    // PyTorch names the op that produced the tensor: the saving node for an
    // output, the tensor's current grad_fn otherwise ("Exp" for ExpBackward0).
    std::shared_ptr<Node> producer = saved_for;
    if (!is_output_) {
      auto original = original_.lock();
      producer = original ? Tensor(original).grad_fn() : data_.grad_fn();
    }
    if (producer != nullptr)
      what += ", which is output " + std::to_string(output_nr_) + " of " + forward_name(*producer) + ",";
    raise<RuntimeError>(
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: ",
        what, " is at version ", current, "; expected version ", saved_version_,
        " instead. Hint: the tensor was written in place (a method ending in '_', or a write through "
        "a view of it) after the graph saved it; use the out-of-place op or clone() it first.");
  }
  const std::shared_ptr<Node>& history = is_output_ ? saved_for : history_;
  if (!requires_grad_ || data_.is_sparse() || history == nullptr) return data_;
  Tensor alias = plain_alias(data_);
  AutogradMeta& m = meta(alias);
  m.grad_fn = history;
  m.output_nr = output_nr_;
  return alias;
}

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  AutogradMeta& m = meta(leaf);
  if (auto existing = m.grad_accumulator.lock()) return existing;
  auto node = make_accumulate_grad(leaf);
  m.grad_accumulator = node;
  return node;
}

namespace {
// A view whose storage was written since its grad_fn was set (through the
// base or another view) gets a grad_fn that reads its region of the base.
void refresh_view_history(const Tensor& t, AutogradMeta& m) {
  if (!m.view || !m.view->created_in_grad_mode || m.attr_version == t._version()) return;
  const Tensor& base = m.view->base;
  m.attr_version = t._version();
  if (!base.requires_grad()) return;
  auto node = make_as_strided_backward(view_geometry(t, base));
  node->set_next_edges({gradient_edge(base)});
  node->add_input_metadata(t);
  m.grad_fn = node;
  m.output_nr = 0;
}
}  // namespace

std::shared_ptr<Node> current_grad_fn(const Tensor& t) {
  AutogradMeta* m = meta_if_exists(t);
  if (m == nullptr) return nullptr;
  refresh_view_history(t, *m);
  return m->grad_fn;
}

Edge gradient_edge(const Tensor& t) {
  AutogradMeta* m = meta_if_exists(t);
  if (m == nullptr) return {};
  if (auto fn = current_grad_fn(t)) return {fn, m->output_nr};
  if (m->requires_grad) return {grad_accumulator(t), 0};
  return {};
}

std::vector<Edge> collect_next_edges(std::initializer_list<const Tensor*> inputs) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor* t : inputs) edges.push_back(t != nullptr && t->defined() ? gradient_edge(*t) : Edge{});
  return edges;
}

std::vector<Edge> collect_next_edges(const std::vector<Tensor>& inputs) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) edges.push_back(t.defined() ? gradient_edge(t) : Edge{});
  return edges;
}

void set_history(const Tensor& out, const std::shared_ptr<Node>& node) {
  AutogradMeta& m = meta(out);
  m.output_nr = node->add_input_metadata(out);
  m.grad_fn = node;
  if (m.view) m.attr_version = out._version();
}

}  // namespace descent::autograd
