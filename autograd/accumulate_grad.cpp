// AccumulateGrad (the node at every leaf that requires grad) and the
// gradient arithmetic the engine needs: adding dense and sparse gradients,
// reducing broadcast gradients.
#include <limits>

#include "autograd/functions/functions.h"
#include "autograd/record.h"
#include "descent/tensor/ops.h"

namespace descent::autograd {

namespace {
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(Tensor variable)
      : Node(std::numeric_limits<uint64_t>::max()), variable_(std::move(variable)) {
    add_input_metadata(variable_);
  }
  std::string name() const override { return "AccumulateGrad"; }
  tensor_list apply(tensor_list&& grads) override {
    accumulate_into_grad(variable_, grads.at(0));
    return {};
  }

 private:
  Tensor variable_;
};

// A new sparse tensor over the same indices and values.
Tensor shallow_sparse(const Tensor& s) {
  return sparse_coo_tensor(s._indices(), s._values(), s.sizes(), s.is_coalesced());
}

Tensor sparse_plus_sparse(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes())
    raise<ShapeError>("add: expected sparse tensors of the same size, but got ", shape_to_string(a.sizes()),
                      " and ", shape_to_string(b.sizes()));
  if (a._nnz() == 0) return shallow_sparse(b.to(promote_types(a.dtype(), b.dtype())));
  if (b._nnz() == 0) return shallow_sparse(a.to(promote_types(a.dtype(), b.dtype())));
  Tensor indices = cat({a._indices(), b._indices()}, 1);
  Tensor values = cat({a._values(), b._values()}, 0);
  return sparse_coo_tensor(indices, values, a.sizes(), false);
}

// Whether nobody else holds t (its data may become a .grad without a copy).
bool unshared(const Tensor& t) { return t.impl().use_count() == 1 && t.storage().use_count() == 1; }
}  // namespace

std::shared_ptr<Node> make_accumulate_grad(const Tensor& leaf) {
  return std::make_shared<AccumulateGrad>(leaf);
}

Tensor add_grads(const Tensor& a, const Tensor& b) {
  if (a.is_sparse() && b.is_sparse()) return sparse_plus_sparse(a, b);
  if (a.is_sparse()) return add(b, a);
  return add(a, b);
}

void accumulate_into_grad(const Tensor& variable, const Tensor& new_grad) {
  if (!variable.requires_grad()) return;
  Tensor& grad = meta(variable).grad;
  bool recording = is_grad_enabled();
  if (!grad.defined()) {
    if (recording && new_grad.is_sparse()) {
      grad = new_grad.clone();
    } else if (recording) {
      // As PyTorch: a fresh tensor copied from new_grad (grad_fn CopyBackwards).
      grad = empty_like(new_grad);
      grad.copy_(new_grad);
    } else if (new_grad.is_sparse()) {
      grad = shallow_sparse(new_grad);
    } else {
      // A strided view (from TBackward, say) becomes a contiguous .grad, which the fused optimizers read densely.
      grad = unshared(new_grad) && new_grad.is_contiguous() ? new_grad.detach() : new_grad.detach().clone();
    }
  } else if (recording) {
    grad = add_grads(grad, new_grad);
  } else if (grad.is_sparse() && new_grad.is_sparse()) {
    // In place, as PyTorch's `grad += new_grad`: the .grad tensor keeps its identity.
    Tensor sum = sparse_plus_sparse(grad, new_grad);
    TensorImpl& impl = *grad.unsafe_get_impl();
    impl.sparse_indices = sum._indices();
    impl.sparse_values = sum._values();
    impl.coalesced = sum.is_coalesced();
  } else if (grad.is_sparse()) {
    grad = add(new_grad, grad);
  } else {
    grad.add_(new_grad);
  }
}

bool is_expandable_to(const Shape& shape, const Shape& desired) {
  if (shape.size() > desired.size()) return false;
  std::size_t lead = desired.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && shape[i] != desired[lead + i]) return false;
  return true;
}

Tensor sum_to_size(const Tensor& t, const Shape& shape) {
  if (t.sizes() == shape) return t;
  int64_t lead = t.dim() - static_cast<int64_t>(shape.size());
  Shape dims;
  for (int64_t i = 0; i < t.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && t.sizes()[i] != 1)) dims.push_back(i);
  Tensor r = dims.empty() ? t : t.sum(dims, true);
  return lead > 0 || r.sizes() != shape ? r.reshape(shape) : r;
}

}  // namespace descent::autograd
