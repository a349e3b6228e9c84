// Backward of take (index_select, gather) and of its gradient put_add: each
// is the other's gradient, so derivatives of any order follow. Node names
// are PyTorch's: index_select's gradient is an index_add, gather's a scatter_add.
#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"

namespace descent::autograd {

namespace {
Tensor record_put_add(Tensor out, const Tensor& values, const native::IndexMapPtr& map, bool is_gather) {
  if (!needs_grad(values)) return out;
  auto n = formula_node(is_gather ? "ScatterAddBackward0" : "IndexAddBackward0", {&values});
  n->formula = [map, is_gather](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {record_take(native::take(g[0], *map), g[0], map, is_gather)};
  };
  return finish(std::move(out), n);
}
}  // namespace

Tensor record_take(Tensor out, const Tensor& source, const native::IndexMapPtr& map, bool is_gather) {
  if (!needs_grad(source)) return out;
  auto n = formula_node(is_gather ? "GatherBackward0" : "IndexSelectBackward0", {&source});
  n->formula = [map, is_gather](FormulaNode&, const tensor_list& g) -> tensor_list {
    return {record_put_add(native::put_add(g[0], *map), g[0], map, is_gather)};
  };
  return finish(std::move(out), n);
}

}  // namespace descent::autograd
