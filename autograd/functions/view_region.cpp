// Gradients across an in-place write through a view. A view's part of its
// (contiguous) base is a region: a shape, strides, a dtype (reinterpreted,
// as with view_as_real) and an offset. Three differentiable region ops carry gradients
// between a base and its views.
#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"
#include "tensor/native.h"

namespace descent::autograd {

namespace {
// The region of `whole` (shaped and typed like the base) that the view covers: a view of it.
Tensor region_view(const Tensor& given, const ViewGeometry& g) {
  const Tensor whole = given.is_contiguous() ? given : native::clone(given);
  auto es_base = static_cast<int64_t>(element_size(g.base_dtype));
  auto es_view = static_cast<int64_t>(element_size(g.view_dtype));
  int64_t start = whole.storage_offset() * es_base / es_view + g.offset;
  return native::make_strided(whole, g.view_shape, g.view_strides, start, g.view_dtype);
}

Tensor scatter_region(const Tensor& part, const ViewGeometry& g);

// A copy of the view's region of `whole`.
Tensor take_region(const Tensor& whole, const ViewGeometry& g) {
  Tensor out = native::clone(region_view(whole, g));
  if (!needs_grad(whole)) return out;
  auto n = formula_node("AsStridedBackward0", {&whole});
  n->formula = [g](FormulaNode&, const tensor_list& grads) -> tensor_list {
    return {scatter_region(grads[0], g)};
  };
  return finish(std::move(out), n);
}

// Zeros shaped like the base, holding `part` in the view's region.
Tensor scatter_region(const Tensor& part, const ViewGeometry& g) {
  Tensor out = native::empty(g.base_shape, g.base_dtype, g.device);
  native::fill_(out, 0);
  Tensor region = region_view(out, g);
  native::copy_(region, part);
  if (!needs_grad(part)) return out;
  auto n = formula_node("AsStridedScatterBackward0", {&part});
  n->formula = [g](FormulaNode&, const tensor_list& grads) -> tensor_list {
    return {take_region(grads[0], g)};
  };
  return finish(std::move(out), n);
}

// `whole` with the view's region set to zero.
Tensor zero_region(const Tensor& whole, const ViewGeometry& g) {
  Tensor out = native::clone(whole);
  Tensor region = region_view(out, g);
  native::fill_(region, 0);
  if (!needs_grad(whole)) return out;
  auto n = formula_node("CopySlicesBackward0", {&whole});
  n->formula = [g](FormulaNode&, const tensor_list& grads) -> tensor_list {
    return {zero_region(grads[0], g)};
  };
  return finish(std::move(out), n);
}

class AsStridedBackward : public Node {
 public:
  explicit AsStridedBackward(ViewGeometry g) : geometry_(std::move(g)) {}
  std::string name() const override { return "AsStridedBackward0"; }
  tensor_list apply(tensor_list&& grads) override { return {scatter_region(grads[0], geometry_)}; }

 private:
  ViewGeometry geometry_;
};

// The base's gradient splits in two: outside the written region it flows to
// the base's old history; inside, to the history of the values written.
class CopySlices : public Node {
 public:
  explicit CopySlices(ViewGeometry g) : geometry_(std::move(g)) {}
  std::string name() const override { return "CopySlices"; }
  tensor_list apply(tensor_list&& grads) override {
    return {should_compute_output(0) ? zero_region(grads[0], geometry_) : Tensor(),
            should_compute_output(1) ? take_region(grads[0], geometry_) : Tensor()};
  }

 private:
  ViewGeometry geometry_;
};
}  // namespace

ViewGeometry view_geometry(const Tensor& view, const Tensor& base) {
  if (!base.is_contiguous())
    raise<NotImplementedError>("in-place write through a view whose base tensor is not contiguous (base strides ",
                               shape_to_string(base.strides()), "): call contiguous() on the base first");
  ViewGeometry g;
  g.base_shape = base.sizes();
  g.base_dtype = base.dtype();
  g.device = base.device();
  g.view_shape = view.sizes();
  g.view_strides = view.strides();
  g.view_dtype = view.dtype();
  int64_t bytes = view.storage_offset() * view.element_size() - base.storage_offset() * base.element_size();
  g.offset = bytes / view.element_size();
  return g;
}

std::shared_ptr<Node> make_as_strided_backward(const ViewGeometry& geometry) {
  return std::make_shared<AsStridedBackward>(geometry);
}

std::shared_ptr<Node> make_copy_slices(const ViewGeometry& geometry) {
  return std::make_shared<CopySlices>(geometry);
}

}  // namespace descent::autograd
