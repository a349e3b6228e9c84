// The autograd side of Tensor: requires_grad, grad, grad_fn, detach.
#include "autograd/record.h"
#include "descent/autograd/autograd.h"
#include "descent/autograd/autograd_meta.h"
#include "descent/autograd/grad_mode.h"
#include "tensor/native.h"

namespace descent {

namespace autograd {
AutogradMeta& meta(const Tensor& t) {
  auto& m = t.impl()->autograd_meta;
  if (!m) m = std::make_shared<AutogradMeta>();
  return *m;
}
AutogradMeta* meta_if_exists(const Tensor& t) {
  return t.defined() ? t.impl()->autograd_meta.get() : nullptr;
}

namespace {
thread_local bool grad_enabled = true;
}
bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }
}  // namespace autograd

bool Tensor::requires_grad() const {
  auto* m = autograd::meta_if_exists(*this);
  return m != nullptr && (m->requires_grad || autograd::current_grad_fn(*this) != nullptr);
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  auto* m = autograd::meta_if_exists(*this);
  if (m != nullptr && m->grad_fn != nullptr && !requires_grad)
    raise<RuntimeError>(
        "requires_grad_: you can only change requires_grad flags of leaf variables. If you want to use a "
        "computed variable in a subgraph that doesn't require differentiation use var_no_grad = "
        "var.detach().");
  if (requires_grad && !is_floating_point() && !is_complex())
    raise<RuntimeError>(
        "requires_grad_: only Tensors of floating point and complex dtype can require gradients (got ",
        to_string(dtype()), ")");
  autograd::meta(*this).requires_grad = requires_grad;
  return *this;
}

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  auto* m = autograd::meta_if_exists(*this);
  return m ? m->grad : undefined;
}
Tensor& Tensor::mutable_grad() { return autograd::meta(*this).grad; }

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined()) {
    if (grad.device() != device())
      raise<DeviceError>("set_grad: assigned grad is on device ", grad.device().str(),
                         " but the tensor is on ", device().str());
    if (grad.dtype() != dtype())
      raise<TypeError>("set_grad: assigned grad has data of type ", to_string(grad.dtype()),
                       " that differs from the tensor's type ", to_string(dtype()));
    if (grad.sizes() != sizes())
      raise<ShapeError>("set_grad: assigned grad has shape ", shape_to_string(grad.sizes()),
                        " that differs from the tensor's shape ", shape_to_string(sizes()));
  }
  autograd::meta(*this).grad = grad;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const { return autograd::current_grad_fn(*this); }
bool Tensor::is_leaf() const { return grad_fn() == nullptr; }

void Tensor::retain_grad() const {
  if (!requires_grad())
    raise<RuntimeError>("retain_grad: can't retain_grad on Tensor that has requires_grad=False");
  if (is_leaf()) return;
  autograd::AutogradMeta& m = autograd::meta(*this);
  m.retains_grad = true;
  grad_fn()->add_retained_grad(m.output_nr, impl());
}
bool Tensor::retains_grad() const {
  auto* m = autograd::meta_if_exists(*this);
  return m && m->retains_grad;
}

Tensor Tensor::detach() const {
  if (is_sparse()) return sparse_coo_tensor(_indices(), _values(), sizes(), is_coalesced());
  return native::alias(*this);
}

Tensor& Tensor::detach_() {
  auto* m = autograd::meta_if_exists(*this);
  if (m && m->view && m->view->created_in_grad_mode && m->view->base.requires_grad())
    raise<RuntimeError>("detach_: can't detach views in-place. Use detach() instead.");
  if (m) {
    m->grad_fn = nullptr;
    m->requires_grad = false;
  }
  return *this;
}

namespace autograd {
void set_data(const Tensor& t, const Tensor& new_data) {
  if (!t.defined() || !new_data.defined()) raise<ValueError>("set_data: both tensors must be defined");
  if (t.requires_grad() && !new_data.is_floating_point() && !new_data.is_complex())
    raise<TypeError>(
        "set_data: a tensor that requires grad can only hold floating point or complex data (got ",
        to_string(new_data.dtype()), ")");
  TensorImpl& dst = *t.unsafe_get_impl();
  const TensorImpl& src = *new_data.unsafe_get_impl();
  if (&dst == &src) return;
  bool same_metadata =
      dst.sizes == src.sizes && dst.dtype == src.dtype && dst.layout == src.layout &&
      (src.layout == Layout::SparseCoo ? dst.sparse_values.device() == src.sparse_values.device()
                                       : dst.storage && dst.storage->device == src.storage->device);
  dst.storage = src.storage;
  dst.offset = src.offset;
  dst.sizes = src.sizes;
  dst.strides = src.strides;
  dst.dtype = src.dtype;
  dst.layout = src.layout;
  dst.sparse_indices = src.sparse_indices;
  dst.sparse_values = src.sparse_values;
  dst.coalesced = src.coalesced;
  // An AccumulateGrad built for the old shape or dtype must not be reused.
  if (!same_metadata)
    if (auto* m = meta_if_exists(t)) m->grad_accumulator.reset();
}
}  // namespace autograd

}  // namespace descent
