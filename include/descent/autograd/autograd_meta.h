#pragma once
// Per-tensor autograd state: whether it requires grad, its accumulated grad,
// the graph node that produced it (null for leaves), and, for views, the
// tensor whose storage they share.
#include <cstdint>
#include <memory>

#include "descent/tensor/tensor.h"

namespace descent::autograd {

class Node;

/// A view's relation to its base, kept so that an in-place write through the
/// view can update the base's history (and the other way round).
struct ViewInfo {
  Tensor base;  // the root tensor whose storage the view shares (never itself a view)
  bool created_in_grad_mode = true;
};

/// A tensor's autograd record: requires_grad, grad, the node that produced it, hooks, and its view relation.
struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  // Which output of grad_fn this tensor is.
  uint32_t output_nr = 0;
  // The node that accumulates into a leaf's grad; weak so that a leaf does
  // not keep its graph alive.
  std::weak_ptr<Node> grad_accumulator;
  std::shared_ptr<ViewInfo> view;
  // Storage version when a view's grad_fn was last set: when the storage has
  // been written since, the grad_fn is rebuilt from the base's history.
  int64_t attr_version = 0;
};

// The meta of t, created on demand.
AutogradMeta& meta(const Tensor& t);
// The meta of t, or null when it has none (never required grad).
AutogradMeta* meta_if_exists(const Tensor& t);

}  // namespace descent::autograd
