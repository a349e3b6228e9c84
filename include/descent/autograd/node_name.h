#pragma once
#include <string>

namespace descent::autograd {
class Node;
// PyTorch's grad_fn class name, e.g. "AddBackward0" (used by Tensor::repr).
std::string node_name(const Node& node);
}  // namespace descent::autograd
