#pragma once
// Internal: the backward side of every differentiable op. Each record_*
// function takes the forward result computed by descent::native and the
// op's inputs; when grad mode is on and an input requires grad it attaches
// the op's backward node (PyTorch's name in the comment) and returns the
// result. Grouped by file: arithmetic, unary, complex, reduce, shape, copy.
#include <optional>
#include <tuple>
#include <vector>

#include "descent/autograd/node.h"
#include "descent/devices/backend.h"
#include "descent/tensor/tensor.h"
#include "tensor/indexing.h"

namespace descent::autograd {

// ---- engine support (accumulate_grad.cpp) ----
std::shared_ptr<Node> make_accumulate_grad(const Tensor& leaf);
// Adds a gradient into variable.grad as AccumulateGrad does (dense or sparse).
void accumulate_into_grad(const Tensor& variable, const Tensor& new_grad);
// a + b for gradients, either of which may be sparse.
Tensor add_grads(const Tensor& a, const Tensor& b);
// Whether a tensor of shape `shape` broadcasts to `desired`.
bool is_expandable_to(const Shape& shape, const Shape& desired);
// Sums a broadcast gradient back down to `shape` (differentiable).
Tensor sum_to_size(const Tensor& t, const Shape& shape);

// ---- views written in place (view_region.cpp) ----
// Where a view lies in its base: shape and dtype of both, and the view's
// offset from the base's first element in units of the view's dtype.
struct ViewGeometry {
  Shape base_shape;
  Dtype base_dtype = kFloat32;
  Device device;
  Shape view_shape;
  Shape view_strides;  // in view elements, over the base's contiguous layout
  Dtype view_dtype = kFloat32;
  int64_t offset = 0;
};
ViewGeometry view_geometry(const Tensor& view, const Tensor& base);
// AsStridedBackward0: the grad_fn of a view rebuilt from its base's history.
std::shared_ptr<Node> make_as_strided_backward(const ViewGeometry& geometry);
// CopySlices: the base's grad_fn after an in-place write through a view.
// Edges: 0 = the base's old history, 1 = the history of the written values.
std::shared_ptr<Node> make_copy_slices(const ViewGeometry& geometry);

// ---- arithmetic.cpp ----
Tensor record_add(Tensor out, const Tensor& a, const Tensor& b,
                  const Scalar& alpha);  // b undefined: a number
Tensor record_sub(Tensor out, const Tensor& a, const Tensor& b, const Scalar& alpha);
Tensor record_rsub(Tensor out, const Tensor& a);  // number - a
Tensor record_mul(Tensor out, const Tensor& a, const Tensor& b);
Tensor record_mul(Tensor out, const Tensor& a, const Scalar& b);
Tensor record_div(Tensor out, const Tensor& a, const Tensor& b);
Tensor record_div(Tensor out, const Tensor& a, const Scalar& b);
Tensor record_pow(Tensor out, const Tensor& base, const Tensor& exponent);
Tensor record_pow(Tensor out, const Tensor& base, const Scalar& exponent);
Tensor record_pow(Tensor out, const Scalar& base, const Tensor& exponent);
Tensor record_maximum(Tensor out, const Tensor& a, const Tensor& b);
Tensor record_minimum(Tensor out, const Tensor& a, const Tensor& b);
Tensor record_atan2(Tensor out, const Tensor& a, const Tensor& b);
Tensor record_clamp(Tensor out, const Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max);
Tensor record_clamp(Tensor out, const Tensor& t, const std::optional<Tensor>& min,
                    const std::optional<Tensor>& max);
Tensor record_where(Tensor out, const Tensor& condition, const Tensor& a,
                    const Tensor& b);  // a/b undefined: numbers
Tensor record_lerp(Tensor out, const Tensor& start, const Tensor& end, const Scalar& weight);
Tensor record_lerp(Tensor out, const Tensor& start, const Tensor& end, const Tensor& weight);
Tensor record_addcmul(Tensor out, const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value);
Tensor record_addcdiv(Tensor out, const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value);
// number / t computed exactly (ATen's `Scalar / Tensor`), used by formulas.
Tensor rdiv(const Scalar& number, const Tensor& t);

// ---- unary.cpp ----
// Neg, Abs, Sign, Sqrt, Rsqrt, Exp, Log, Log1p, Reciprocal, Sigmoid, Tanh, Relu, Conj, Sin, Cos.
Tensor record_unary(Tensor out, UnaryOp op, const Tensor& t);
Tensor record_softplus(Tensor out, const Tensor& t, double beta, double threshold);
// grad where input > threshold, else 0 (relu's backward), differentiable in grad.
Tensor threshold_backward(const Tensor& grad, const Tensor& input, double threshold);
// z / |z| (0 at 0) for complex z, sign(x) for real x.
Tensor sgn(const Tensor& t);

// ---- complex.cpp ----
Tensor record_real(Tensor out, const Tensor& t);
Tensor record_imag(Tensor out, const Tensor& t);
Tensor record_angle(Tensor out, const Tensor& t);
Tensor record_view_as_real(Tensor out, const Tensor& t);
Tensor record_view_as_complex(Tensor out, const Tensor& t);
Tensor record_complex(Tensor out, const Tensor& real, const Tensor& imag);

// ---- reduce.cpp ----
Tensor record_sum(Tensor out, const Tensor& t, const Shape& dims);  // dims empty: all
Tensor record_mean(Tensor out, const Tensor& t, const Shape& dims);
Tensor record_norm(Tensor out, const Tensor& t, double p, const Shape& dims);
Tensor record_prod(Tensor out, const Tensor& t);
Tensor record_max_all(Tensor out, const Tensor& t, bool is_max);
std::tuple<Tensor, Tensor> record_max_dim(std::tuple<Tensor, Tensor> out, const Tensor& t, int64_t dim,
                                          bool keepdim, bool is_max);
Tensor record_amax(Tensor out, const Tensor& t, const Shape& dims, bool is_max);
Tensor record_dot(Tensor out, const Tensor& a, const Tensor& b, bool conjugate_first);
Tensor record_matmul(Tensor out, const Tensor& a, const Tensor& b);

// ---- shape.cpp ----
// A reshape-like view (view, reshape, flatten, unsqueeze, squeeze) named `name`.
Tensor record_view(Tensor out, const Tensor& t, const char* name);
Tensor record_narrow(Tensor out, const Tensor& t, int64_t dim, int64_t start);
Tensor record_select(Tensor out, const Tensor& t, int64_t dim, int64_t index);
Tensor record_permute(Tensor out, const Tensor& t, const Shape& dims);
Tensor record_transpose(Tensor out, const Tensor& t, int64_t dim0, int64_t dim1);
Tensor record_t(Tensor out, const Tensor& t);
Tensor record_expand(Tensor out, const Tensor& t);
Tensor record_cat(Tensor out, const std::vector<Tensor>& tensors, int64_t dim);
Tensor record_stack(Tensor out, const std::vector<Tensor>& tensors, int64_t dim);
// zeros of `sizes` with `grad` at [start, start + grad.size(dim)) along dim (differentiable).
Tensor narrow_scatter(const Tensor& grad, const Shape& sizes, int64_t dim, int64_t start);

// ---- indexing.cpp ----
// out = source at map's positions: index_select, or gather when is_gather.
Tensor record_take(Tensor out, const Tensor& source, const native::IndexMapPtr& map, bool is_gather);

// ---- special.cpp ----
Tensor record_erf(Tensor out, const Tensor& t);

// ---- copy.cpp ----
Tensor record_clone(Tensor out, const Tensor& t);
Tensor record_to(Tensor out, const Tensor& t);
// The functional form of an overwrite (copy_, fill_, zero_): `value` replaces
// `old`, so old gets a zero gradient and `source` (if any) the gradient.
Tensor overwrite(const Tensor& old, Tensor value, const char* name, const Tensor& source);

}  // namespace descent::autograd
