#pragma once
// The autograd tape's entry points (torch.autograd): backward, grad, and the
// pieces a PyTorch user reaches for next to them.
//
//   Tensor w = randn({3}, {.dtype = kFloat64, .requires_grad = true});
//   Tensor loss = (w * w).sum();
//   loss.backward();                    // w.grad() == 2 * w
//   auto g = autograd::grad({loss}, {w}, {}, std::nullopt, /*create_graph=*/true);  // g[0]: d loss/dw
#include <optional>
#include <vector>

#include "descent/autograd/grad_mode.h"
#include "descent/autograd/node.h"
#include "descent/autograd/node_name.h"
#include "descent/tensor/tensor.h"

namespace descent::autograd {

// torch.autograd.backward: accumulates d(sum_i <tensors[i], grad_tensors[i]>)/d(leaf)
// into the .grad of every leaf that requires grad (or only of `inputs`, when given).
// An empty grad_tensors entry means "ones" and is only allowed for one-element outputs.
// retain_graph defaults to create_graph.
void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
              const std::vector<Tensor>& inputs = {});

// torch.autograd.grad: the gradients of outputs with respect to inputs,
// without touching any .grad. An input the outputs do not depend on raises,
// unless allow_unused (result undefined) or materialize_grads (result zeros).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {},
                         std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                         bool allow_unused = false, bool materialize_grads = false);

// PyTorch's `t.data = new_data`: t keeps its identity, requires_grad and grad
// but now holds new_data's storage, shape and dtype (Module::to, vector_to_parameters).
void set_data(const Tensor& t, const Tensor& new_data);

}  // namespace descent::autograd
