// The backward engine: replays the recorded graph from the roots, running
// each node once all the gradients flowing into it have arrived.
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/functions/functions.h"
#include "autograd/record.h"
#include "descent/autograd/autograd.h"
#include "descent/tensor/ops.h"

namespace descent::autograd {

namespace {

// A target of autograd::grad: the gradient arriving at input `input_nr` of a node.
struct Capture {
  uint32_t input_nr;
  std::size_t index;
};

class GraphTask {
 public:
  GraphTask(bool keep_graph, bool create_graph) : keep_graph_(keep_graph), create_graph_(create_graph) {}

  // Run the graph from the roots. With captures, only what leads to them runs
  // and nothing is accumulated into any .grad.
  std::vector<Tensor> execute(const std::vector<Edge>& roots, const std::vector<Tensor>& root_grads,
                              const std::vector<Edge>& captures) {
    capture_mode_ = !captures.empty();
    for (std::size_t i = 0; i < captures.size(); ++i)
      if (captures[i].is_valid()) captures_[captures[i].function.get()].push_back({captures[i].input_nr, i});
    count_dependencies(roots);
    if (capture_mode_) mark_needed(roots);
    for (std::size_t i = 0; i < roots.size(); ++i) accumulate(roots[i], root_grads[i]);

    std::vector<Tensor> captured(captures.size());
    auto later_first = [](Node* a, Node* b) { return a->sequence_nr() < b->sequence_nr(); };
    std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);
    std::unordered_set<Node*> queued;
    for (const Edge& r : roots)
      if (dependencies_[r.function.get()] == 0 && queued.insert(r.function.get()).second)
        ready.push(r.function.get());

    while (!ready.empty()) {
      Node* node = ready.top();
      ready.pop();
      tensor_list inputs = std::move(buffers_[node]);
      buffers_.erase(node);
      if (auto it = captures_.find(node); it != captures_.end())
        for (const Capture& c : it->second)
          captured[c.index] = c.input_nr < inputs.size() ? inputs[c.input_nr] : Tensor();
      if (capture_mode_ && !needed_.count(node)) continue;
      run(*node, std::move(inputs), ready);
    }
    return captured;
  }

 private:
  void count_dependencies(const std::vector<Edge>& roots) {
    std::vector<Node*> stack;
    std::unordered_set<Node*> seen;
    for (const Edge& r : roots)
      if (seen.insert(r.function.get()).second) stack.push_back(r.function.get());
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->next_edges()) {
        if (!e.is_valid()) continue;
        ++dependencies_[e.function.get()];
        if (seen.insert(e.function.get()).second) stack.push_back(e.function.get());
      }
    }
  }

  // needed: nodes that must run because a capture lies below them.
  void mark_needed(const std::vector<Edge>& roots) {
    std::unordered_map<Node*, bool> done;
    std::vector<std::pair<Node*, std::size_t>> stack;
    for (const Edge& r : roots) {
      if (done.count(r.function.get())) continue;
      stack.emplace_back(r.function.get(), 0);
      done[r.function.get()] = false;
      while (!stack.empty()) {
        auto& [n, child] = stack.back();
        if (child < n->next_edges().size()) {
          Node* next = n->next_edges()[child++].function.get();
          if (next != nullptr && !done.count(next)) {
            done[next] = false;
            stack.emplace_back(next, 0);
          }
          continue;
        }
        for (const Edge& e : n->next_edges())
          if (e.is_valid() && (needed_.count(e.function.get()) || captures_.count(e.function.get())))
            needed_.insert(n);
        done[n] = true;
        stack.pop_back();
      }
    }
  }

  void accumulate(const Edge& edge, const Tensor& grad) {
    tensor_list& buffer = buffers_[edge.function.get()];
    if (buffer.empty()) buffer.resize(edge.function->num_inputs());
    Tensor& slot = buffer.at(edge.input_nr);
    slot = slot.defined() ? add_grads(slot, grad) : grad;
  }

  template <typename Queue>
  void run(Node& node, tensor_list inputs, Queue& ready) {
    inputs.resize(node.num_inputs());
    for (std::size_t i = 0; i < inputs.size(); ++i)
      if (!inputs[i].defined()) {
        const InputMetadata& m = node.input_metadata(i);
        inputs[i] = zeros(m.shape, {.dtype = m.dtype, .device = m.device});
      }
    tensor_list outputs;
    {
      GradModeGuard mode(create_graph_);
      if (!capture_mode_) store_retained_grads(node, inputs);
      outputs = node.apply(std::move(inputs));
      if (outputs.size() != node.next_edges().size())
        raise<RuntimeError>("function ", node.name(), " returned an incorrect number of gradients (expected ",
                            node.next_edges().size(), ", got ", outputs.size(), ")");
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        const Edge& e = node.next_edge(i);
        if (e.is_valid() && outputs[i].defined())
          outputs[i] = conform(node, i, std::move(outputs[i]), e.function->input_metadata(e.input_nr));
      }
    }
    if (!keep_graph_) node.release_variables();
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      const Edge& e = node.next_edge(i);
      if (!e.is_valid()) continue;
      if (outputs[i].defined()) accumulate(e, outputs[i]);
      if (--dependencies_[e.function.get()] == 0) ready.push(e.function.get());
    }
  }

  // Brings a gradient to the shape, dtype and device of the tensor it is for.
  static Tensor conform(const Node& node, std::size_t index, Tensor grad, const InputMetadata& m) {
    if (grad.sizes() != m.shape) {
      if (grad.is_sparse() || !is_expandable_to(m.shape, grad.sizes()))
        raise<ShapeError>("Function ", node.name(), " returned an invalid gradient at index ", index,
                          " - got ", shape_to_string(grad.sizes()), " but expected shape compatible with ",
                          shape_to_string(m.shape));
      grad = sum_to_size(grad, m.shape);
    }
    if (grad.device() != m.device || grad.dtype() != m.dtype) grad = grad.to(m.device, m.dtype);
    return grad;
  }

  static void store_retained_grads(const Node& node, const tensor_list& inputs) {
    for (const auto& [nr, weak] : node.retained_grads()) {
      auto impl = weak.lock();
      if (!impl || nr >= inputs.size()) continue;
      Tensor t(impl);
      Tensor& g = meta(t).grad;
      g = g.defined() ? add_grads(g, inputs[nr]) : inputs[nr].clone();
    }
  }

  bool keep_graph_, create_graph_;
  bool capture_mode_ = false;
  std::unordered_map<Node*, int64_t> dependencies_;
  std::unordered_map<Node*, tensor_list> buffers_;
  std::unordered_map<Node*, std::vector<Capture>> captures_;
  std::unordered_set<Node*> needed_;
};

// torch.autograd's _make_grads: checks the given output gradients and creates
// the implicit ones.
std::vector<Tensor> make_grads(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grads,
                               const char* api) {
  if (!grads.empty() && grads.size() != outputs.size())
    raise<ValueError>(api, ": got ", grads.size(), " gradients for ", outputs.size(),
                      " tensors (give one gradient per tensor, or none)");
  std::vector<Tensor> result(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    if (!out.defined()) raise<ValueError>(api, ": tensor ", i, " is undefined");
    Tensor g = grads.empty() ? Tensor() : grads[i];
    if (g.defined()) {
      if (g.sizes() != out.sizes())
        raise<ShapeError>("Mismatch in shape: grad_output[", i, "] has a shape of ",
                          shape_to_string(g.sizes()), " and output[", i, "] has a shape of ",
                          shape_to_string(out.sizes()), ".");
      if (g.is_complex() != out.is_complex())
        raise<TypeError>(
            "For complex Tensors, both grad_output and output are required to have the same dtype. "
            "Mismatch in dtype: grad_output[",
            i, "] has a dtype of ", to_string(g.dtype()), " and output[", i, "] has a dtype of ",
            to_string(out.dtype()), ".");
      result[i] =
          g.dtype() == out.dtype() && g.device() == out.device() ? g : g.to(out.device(), out.dtype());
    } else if (out.requires_grad()) {
      if (out.numel() != 1) raise<RuntimeError>("grad can be implicitly created only for scalar outputs");
      if (!out.is_floating_point())
        raise<RuntimeError>("grad can be implicitly created only for real scalar outputs but got ",
                            to_string(out.dtype()));
      result[i] = ones_like(out);
    }
  }
  return result;
}

std::vector<Edge> root_edges(const std::vector<Tensor>& outputs) {
  std::vector<Edge> roots;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    Edge e = gradient_edge(outputs[i]);
    if (!e.is_valid())
      raise<RuntimeError>("element ", i, " of tensors does not require grad and does not have a grad_fn");
    roots.push_back(std::move(e));
  }
  return roots;
}

std::vector<Edge> input_edges(const std::vector<Tensor>& inputs) {
  std::vector<Edge> edges;
  for (const Tensor& t : inputs) {
    if (!t.defined() || !t.requires_grad())
      raise<RuntimeError>("One of the differentiated Tensors does not require grad");
    edges.push_back(gradient_edge(t));
  }
  return edges;
}

}  // namespace

void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors,
              std::optional<bool> retain_graph, bool create_graph, const std::vector<Tensor>& inputs) {
  if (tensors.empty()) raise<ValueError>("backward: expected at least one tensor to differentiate");
  std::vector<Tensor> grads = make_grads(tensors, grad_tensors, "backward");
  std::vector<Edge> roots = root_edges(tensors);
  GraphTask task(retain_graph.value_or(create_graph), create_graph);
  if (inputs.empty()) {
    task.execute(roots, grads, {});
    return;
  }
  std::vector<Tensor> captured = task.execute(roots, grads, input_edges(inputs));
  GradModeGuard mode(create_graph);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (captured[i].defined()) accumulate_into_grad(inputs[i], captured[i]);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph,
                         bool create_graph, bool allow_unused, bool materialize_grads) {
  if (outputs.empty()) raise<ValueError>("grad: expected at least one output to differentiate");
  if (inputs.empty()) raise<ValueError>("grad: expected at least one input to differentiate with respect to");
  std::vector<Tensor> grads = make_grads(outputs, grad_outputs, "grad");
  std::vector<Edge> roots = root_edges(outputs);
  std::vector<Edge> targets = input_edges(inputs);
  GraphTask task(retain_graph.value_or(create_graph), create_graph);
  std::vector<Tensor> result = task.execute(roots, grads, targets);
  for (std::size_t i = 0; i < result.size(); ++i) {
    if (result[i].defined()) continue;
    if (materialize_grads) {
      result[i] = zeros_like(inputs[i]);
    } else if (!allow_unused) {
      raise<RuntimeError>(
          "The differentiated Tensor at index ", i,
          " appears to not have been used in the graph. Set allow_unused=True if this is the desired "
          "behavior.");
    }
  }
  return result;
}

}  // namespace descent::autograd

namespace descent {
void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph) const {
  autograd::backward({*this}, gradient.defined() ? std::vector<Tensor>{gradient} : std::vector<Tensor>{},
                     retain_graph, create_graph);
}
}  // namespace descent
