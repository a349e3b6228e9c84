// In-place ops under autograd, and the view tracking they rely on.
#include "autograd/functions/functions.h"
#include "autograd/record.h"
#include "tensor/native.h"

namespace descent::autograd {

Tensor track_view(Tensor out, const Tensor& t) {
  if (out.is_sparse() || t.is_sparse() || out.storage() != t.storage()) return out;
  AutogradMeta* tm = meta_if_exists(t);
  bool t_is_view = tm != nullptr && tm->view != nullptr;
  AutogradMeta& m = meta(out);
  m.view = std::make_shared<ViewInfo>(ViewInfo{
      t_is_view ? tm->view->base : t, is_grad_enabled() && (!t_is_view || tm->view->created_in_grad_mode)});
  m.attr_version = out._version();
  return out;
}

namespace {
void check_inplace(const Tensor& self, const ViewInfo* view) {
  if (view == nullptr) {
    if (self.is_leaf() && self.requires_grad())
      raise<RuntimeError>("a leaf Variable that requires grad is being used in an in-place operation.");
    return;
  }
  const Tensor& base = view->base;
  if (!view->created_in_grad_mode && (base.requires_grad() || self.requires_grad()))
    raise<RuntimeError>(
        "A view was created in no_grad mode and is being modified inplace with grad mode enabled. "
        "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your "
        "code by moving both the view and the inplace either both inside the no_grad block (if you "
        "don't want the inplace to be tracked) or both outside (if you want the inplace to be tracked).");
  if (base.is_leaf() && base.requires_grad())
    raise<RuntimeError>(
        "a view of a leaf Variable that requires grad is being used in an in-place operation.");
}
}  // namespace

Tensor& inplace(Tensor& self, const char* name, const std::function<Tensor(const Tensor& old)>& functional) {
  AutogradMeta* m = meta_if_exists(self);
  std::shared_ptr<ViewInfo> view = m != nullptr ? m->view : nullptr;
  check_inplace(self, view.get());

  // `old` is self's value before the write, carrying self's history.
  Tensor old = native::clone(self);
  Edge previous = gradient_edge(self);
  if (previous.is_valid()) {
    AutogradMeta& om = meta(old);
    om.grad_fn = previous.function;
    om.output_nr = previous.input_nr;
  }
  Tensor result = functional(old);
  if (result.sizes() != self.sizes())
    raise<ShapeError>(name, ": output with shape ", shape_to_string(self.sizes()),
                      " doesn't match the broadcast shape ", shape_to_string(result.sizes()));
  if (result.dtype() != self.dtype()) {
    if (!native::can_cast(result.dtype(), self.dtype()))
      raise<TypeError>(name, ": result type ", to_string(result.dtype()),
                       " can't be cast to the desired output type ", to_string(self.dtype()));
    result = result.to(self.dtype());
  }
  native::copy_(self, result);

  Edge written = gradient_edge(result);
  AutogradMeta& sm = meta(self);
  // retain_grad follows the tensor to its new history.
  bool retains = sm.retains_grad && previous.is_valid();
  if (retains) previous.function->remove_retained_grad(self.unsafe_get_impl());
  if (!view) {
    sm.grad_fn = written.function;
    sm.output_nr = written.input_nr;
    if (retains && sm.grad_fn) sm.grad_fn->add_retained_grad(sm.output_nr, self.impl());
    return self;
  }
  const Tensor& base = view->base;
  ViewGeometry geometry = view_geometry(self, base);
  auto copy_slices = make_copy_slices(geometry);
  copy_slices->set_next_edges({gradient_edge(base), written});
  AutogradMeta& bm = meta(base);
  bm.output_nr = copy_slices->add_input_metadata(base);
  bm.grad_fn = copy_slices;
  auto region = make_as_strided_backward(geometry);
  region->set_next_edges({Edge{copy_slices, 0}});
  sm.output_nr = region->add_input_metadata(self);
  sm.grad_fn = region;
  sm.attr_version = self._version();
  if (retains) region->add_retained_grad(sm.output_nr, self.impl());
  return self;
}

}  // namespace descent::autograd
