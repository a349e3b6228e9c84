#pragma once
// The tensor operations without autograd: shape checks, type promotion,
// broadcasting and dispatch to the tensor's backend. Public functions
// (ops.h, Tensor methods) add gradient recording on top of these.
#include <optional>
#include <vector>

#include "descent/tensor/ops.h"
#include "descent/tensor/tensor.h"

namespace descent::native {

// An argument of an elementwise op: a tensor, or a number that keeps its
// "wrapped number" role in type promotion.
struct Arg {
  Arg(const Tensor& t) : tensor(&t) {}
  Arg(const Scalar& s) : scalar(s) {}
  Arg(double s) : scalar(s) {}
  const Tensor* tensor = nullptr;
  Scalar scalar;
  bool is_tensor() const { return tensor != nullptr; }
};

// torch.result_type over any mix of tensors and numbers.
Dtype result_type(std::initializer_list<Arg> args);
// PyTorch's canCast: may a value of dtype `from` be stored into `to` by an in-place op?
bool can_cast(Dtype from, Dtype to);

// Elementwise engine: promotes, broadcasts and runs one backend kernel.
// compute: the dtype the inputs are converted to; out_dtype: the result's dtype;
// out: an existing tensor to write into (in-place ops), whose shape must equal
// the broadcast shape.
struct ElementwiseSpec {
  BinaryOp op;
  Dtype compute;
  Dtype out_dtype;
  std::array<std::complex<double>, 2> scalars{};
  bool has_min = false, has_max = false, tensor_weight = false;
};
Tensor elementwise(const char* name, const ElementwiseSpec& spec, std::initializer_list<Arg> args,
                   Tensor* out = nullptr);
Tensor unary(const char* name, UnaryOp op, const Tensor& t, Dtype compute, Dtype out_dtype, Tensor* out = nullptr);

Tensor add(const Tensor& a, Arg b, const Scalar& alpha);
Tensor& add_(Tensor& self, Arg b, const Scalar& alpha);
Tensor sub(const Tensor& a, Arg b, const Scalar& alpha);
Tensor& sub_(Tensor& self, Arg b, const Scalar& alpha);
Tensor rsub(const Tensor& a, const Scalar& b);  // b - a
Tensor mul(const Tensor& a, Arg b);
Tensor& mul_(Tensor& self, Arg b);
Tensor div(const Tensor& a, Arg b);
Tensor& div_(Tensor& self, Arg b);
Tensor rdiv(const Tensor& a, const Scalar& b);  // b / a
Tensor pow(Arg base, Arg exponent);
Tensor& pow_(Tensor& self, Arg exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor atan2(const Tensor& a, const Tensor& b);
Tensor compare(BinaryOp op, const char* name, const Tensor& a, Arg b);
Tensor logical(BinaryOp op, const char* name, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& t, std::optional<Arg> min, std::optional<Arg> max, Tensor* out = nullptr);
Tensor where(const Tensor& condition, Arg a, Arg b);
Tensor lerp(const Tensor& start, const Tensor& end, Arg weight, Tensor* out = nullptr);
Tensor addcmul(const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value, Tensor* out = nullptr);
Tensor addcdiv(const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value, Tensor* out = nullptr);
Tensor threshold_backward(const Tensor& grad, const Tensor& input, double threshold);

// Unary math; integer/bool inputs of floating functions give the default dtype.
Tensor unary_float(const char* name, UnaryOp op, const Tensor& t, Tensor* out = nullptr);
Tensor unary_same(const char* name, UnaryOp op, const Tensor& t, Tensor* out = nullptr);
Tensor abs(const Tensor& t, Tensor* out = nullptr);
Tensor real(const Tensor& t);
Tensor imag(const Tensor& t);
Tensor angle(const Tensor& t);
Tensor predicate(const char* name, UnaryOp op, const Tensor& t);
Tensor softplus(const Tensor& t, double beta, double threshold);

// Reductions.
Tensor reduce(const char* name, ReduceOp op, const Tensor& t, const Shape& dims, bool keepdim,
              std::optional<Dtype> dtype, double p = 2.0);
std::tuple<Tensor, Tensor> reduce_with_indices(const char* name, ReduceOp op, const Tensor& t, int64_t dim,
                                               bool keepdim);
Tensor dot(const Tensor& a, const Tensor& b, bool conjugate_first);
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);

// Views and copies.
// A contiguous view of base's storage; make_strided gives it explicit strides.
Tensor make_view(const Tensor& base, const Shape& shape, int64_t offset, Dtype dtype);
Tensor make_strided(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset, Dtype dtype);
// A new tensor object over t's memory with t's sizes and strides (no autograd history).
Tensor alias(const Tensor& t);
Tensor view(const Tensor& t, const Shape& shape);
Tensor reshape(const Tensor& t, const Shape& shape);
// Strides with which `t` can be viewed as `shape` without a copy (PyTorch's computeStride), if any.
std::optional<Shape> view_strides(const Tensor& t, const Shape& shape);
Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& t, int64_t dim, int64_t index);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor squeeze(const Tensor& t, std::optional<int64_t> dim);
Tensor permute(const Tensor& t, const Shape& dims);
Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1);
Tensor expand(const Tensor& t, const Shape& shape);
Tensor view_as_real(const Tensor& t);
Tensor view_as_complex(const Tensor& t);
Tensor to(const Tensor& t, Device device, Dtype dtype, bool copy);
Tensor clone(const Tensor& t);
// t when contiguous, else a contiguous copy (no autograd), for kernels that walk dense memory.
Tensor contiguous(const Tensor& t);
Tensor& copy_(Tensor& self, const Tensor& src);
Tensor& fill_(Tensor& self, const Scalar& value);
// Shape that the reduction of `t` over dims gives (negative dims allowed).
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// Sparse COO.
Tensor coalesce(const Tensor& t);
Tensor to_dense(const Tensor& t);
Tensor to_sparse(const Tensor& t);
Tensor sparse_add_to_dense(const Tensor& dense, const Tensor& sparse, const Scalar& alpha);
// Sparse arithmetic (sparse_math.cpp): sparse + sparse as PyTorch's merge
// walk; the linear maps keep the indices, the others coalesce first.
Tensor sparse_add(const Tensor& a, const Tensor& b, const Scalar& alpha);
Tensor& sparse_add_(Tensor& self, const Tensor& other, const Scalar& alpha);
Tensor sparse_mul(const Tensor& t, const Scalar& s);
Tensor sparse_div(const Tensor& t, const Scalar& s);
Tensor sparse_neg(const Tensor& t);
Tensor& sparse_mul_(Tensor& t, const Scalar& s);
Tensor& sparse_div_(Tensor& t, const Scalar& s);
Tensor sparse_sqrt(const Tensor& t);
Tensor sparse_square(const Tensor& t);
Tensor sparse_pow(const Tensor& t, const Scalar& exponent);

// The bytes of storage a strided tensor can touch, [first, end).
std::pair<int64_t, int64_t> byte_span(const Tensor& t);
// Raises RuntimeError when writing to `t` would write one location twice (an expanded view).
void check_no_internal_overlap(const char* name, const Tensor& t);
// Allocates an uninitialised contiguous tensor.
Tensor empty(const Shape& shape, Dtype dtype, Device device);
// Raises DeviceError unless every defined tensor is on one device (0-dim CPU tensors excepted).
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);

}  // namespace descent::native
