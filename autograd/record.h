#pragma once
// Internal: how an op joins the graph. The public ops (tensor/ops.cpp,
// tensor/methods.cpp) compute their result with descent::native and hand it
// to a record_* function (autograd/functions/functions.h), which builds the
// backward node when grad mode is on and an input requires grad.
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "descent/autograd/autograd_meta.h"
#include "descent/autograd/grad_mode.h"
#include "descent/autograd/node.h"

namespace descent::autograd {

inline bool requires_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }
inline bool requires_grad(const std::optional<Tensor>& t) { return t && requires_grad(*t); }
inline bool requires_grad(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts)
    if (requires_grad(t)) return true;
  return false;
}

// Grad mode is on and some input requires grad: the op must be recorded.
template <typename... Inputs>
bool needs_grad(const Inputs&... inputs) {
  return is_grad_enabled() && (requires_grad(inputs) || ...);
}

// t's grad_fn; for a view whose storage was written since, first rebuilt from its base.
std::shared_ptr<Node> current_grad_fn(const Tensor& t);

// The next edges of a node whose forward inputs are `inputs`, in order.
std::vector<Edge> collect_next_edges(std::initializer_list<const Tensor*> inputs);
std::vector<Edge> collect_next_edges(const std::vector<Tensor>& inputs);

// Makes `node` the grad_fn of out (as its next output): out then requires grad.
void set_history(const Tensor& out, const std::shared_ptr<Node>& node);

// Builds a node of type N, connects it to the inputs and returns it; the
// caller saves what the formula needs and calls set_history.
template <typename N, typename... Args>
std::shared_ptr<N> make_node(std::initializer_list<const Tensor*> inputs, Args&&... args) {
  auto node = std::make_shared<N>(std::forward<Args>(args)...);
  node->set_next_edges(collect_next_edges(inputs));
  return node;
}

// The view relation for the public view ops: out shares t's storage. Records
// it (views are tracked even in no-grad mode, so that a later in-place write
// through them can be checked) and returns out.
Tensor track_view(Tensor out, const Tensor& t);

// The in-place op `self.op_(...)` under autograd: `functional(old)` computes
// the op out of place from a copy of self's old value (old carries self's
// history); the result is written into self and self's history (or its
// base's, for a view) now ends at the result's node. Raises for a leaf that
// requires grad and for views that cannot be rebased.
Tensor& inplace(Tensor& self, const char* name, const std::function<Tensor(const Tensor& old)>& functional);

}  // namespace descent::autograd
