#pragma once
// Free-function forms of the tensor operations (torch.add, torch.zeros, ...).
#include <optional>
#include <vector>

#include "descent/tensor/generator.h"
#include "descent/tensor/tensor.h"

namespace descent {

// ---- factories ----
Tensor empty(const Shape& shape, const TensorOptions& options = {});
Tensor zeros(const Shape& shape, const TensorOptions& options = {});
Tensor ones(const Shape& shape, const TensorOptions& options = {});
Tensor full(const Shape& shape, const Scalar& value, const TensorOptions& options = {});
// dtype defaults as in PyTorch: int64 when every bound is integral, else the default dtype.
Tensor arange(const Scalar& end, const TensorOptions& options = {});
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step = 1, const TensorOptions& options = {});
Tensor linspace(const Scalar& start, const Scalar& end, int64_t steps, const TensorOptions& options = {});
Tensor rand(const Shape& shape, const TensorOptions& options = {}, Generator* generator = nullptr);
Tensor randn(const Shape& shape, const TensorOptions& options = {}, Generator* generator = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& shape, const TensorOptions& options = {},
               Generator* generator = nullptr);
Tensor randperm(int64_t n, const TensorOptions& options = {}, Generator* generator = nullptr);
Tensor eye(int64_t n, const TensorOptions& options = {});
// A 0-dim tensor holding value (torch.tensor(3.0)); dtype from the value's category.
Tensor scalar_tensor(const Scalar& value, const TensorOptions& options = {});
// From host data with a shape (torch.tensor([...]).reshape(shape)).
template <typename T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, const TensorOptions& options = {});
template <typename T>
Tensor tensor(std::initializer_list<T> values, const TensorOptions& options = {}) {
  return tensor(std::vector<T>(values), Shape{static_cast<int64_t>(values.size())}, options);
}
// Wraps memory the caller owns and keeps alive (torch.from_blob); no copy.
Tensor from_blob(void* data, const Shape& shape, Dtype dtype, Device device = Device(kCPU));

// Options default to the source tensor's dtype and device.
Tensor empty_like(const Tensor& t, const TensorOptions& options = {});
Tensor zeros_like(const Tensor& t, const TensorOptions& options = {});
Tensor ones_like(const Tensor& t, const TensorOptions& options = {});
Tensor full_like(const Tensor& t, const Scalar& value, const TensorOptions& options = {});
Tensor rand_like(const Tensor& t, const TensorOptions& options = {}, Generator* generator = nullptr);
Tensor randn_like(const Tensor& t, const TensorOptions& options = {}, Generator* generator = nullptr);

// ---- promotion and broadcasting ----
// torch.result_type for two tensors, a tensor and a number, or two numbers.
Dtype result_type(const Tensor& a, const Tensor& b);
Dtype result_type(const Tensor& a, const Scalar& b);
Shape broadcast_shapes(const Shape& a, const Shape& b);

// ---- elementwise ----
Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha = 1);
Tensor add(const Tensor& a, const Scalar& b, const Scalar& alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha = 1);
Tensor sub(const Tensor& a, const Scalar& b, const Scalar& alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Scalar& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Scalar& b);
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor pow(const Tensor& a, const Scalar& exponent);
Tensor pow(const Scalar& base, const Tensor& exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor atan2(const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, const Scalar& b);
Tensor where(const Tensor& condition, const Scalar& a, const Tensor& b);
Tensor lerp(const Tensor& start, const Tensor& end, const Scalar& weight);
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight);
Tensor addcmul(const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value = 1);
Tensor addcdiv(const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value = 1);
Tensor neg(const Tensor& t);
Tensor abs(const Tensor& t);
Tensor sign(const Tensor& t);
Tensor sqrt(const Tensor& t);
Tensor rsqrt(const Tensor& t);
Tensor exp(const Tensor& t);
Tensor log(const Tensor& t);
Tensor log1p(const Tensor& t);
Tensor reciprocal(const Tensor& t);
Tensor square(const Tensor& t);
Tensor sigmoid(const Tensor& t);
Tensor tanh(const Tensor& t);
Tensor sin(const Tensor& t);
Tensor cos(const Tensor& t);
Tensor erf(const Tensor& t);
Tensor relu(const Tensor& t);
Tensor softplus(const Tensor& t, double beta = 1.0, double threshold = 20.0);
Tensor conj(const Tensor& t);
Tensor real(const Tensor& t);
Tensor imag(const Tensor& t);
Tensor angle(const Tensor& t);
Tensor isfinite(const Tensor& t);
Tensor isnan(const Tensor& t);
Tensor isinf(const Tensor& t);
Tensor logical_not(const Tensor& t);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// Shares storage: complex [..] <-> real [.., 2].
Tensor view_as_real(const Tensor& t);
Tensor view_as_complex(const Tensor& t);
Tensor complex(const Tensor& real, const Tensor& imag);

// ---- reductions and linear algebra ----
Tensor sum(const Tensor& t, std::optional<Dtype> dtype = std::nullopt);
Tensor sum(const Tensor& t, const Shape& dims, bool keepdim = false, std::optional<Dtype> dtype = std::nullopt);
Tensor mean(const Tensor& t, std::optional<Dtype> dtype = std::nullopt);
Tensor mean(const Tensor& t, const Shape& dims, bool keepdim = false, std::optional<Dtype> dtype = std::nullopt);
Tensor norm(const Tensor& t, double p = 2.0);
Tensor norm(const Tensor& t, double p, const Shape& dims, bool keepdim = false);
Tensor dot(const Tensor& a, const Tensor& b);
Tensor vdot(const Tensor& a, const Tensor& b);
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Entries of self along dim at index (int64, 0-D or 1-D).
Tensor index_select(const Tensor& self, int64_t dim, const Tensor& index);
// out[i][j] = self[index[i][j]][j] for dim 0 (and so on): index (int64) has
// self's number of dimensions and is no larger outside dim; out has its shape.
Tensor gather(const Tensor& self, int64_t dim, const Tensor& index);
bool equal(const Tensor& a, const Tensor& b);  // same shape and values
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);

// ---- sparse COO ----
// indices: int64 [sparse_dim, nnz]; values: [nnz, dense dims...]; size: the full shape.
Tensor sparse_coo_tensor(const Tensor& indices, const Tensor& values, const Shape& size,
                         std::optional<bool> is_coalesced = std::nullopt);

// Operators, as in Python.
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, const Scalar& b);
Tensor operator-(const Tensor& a, const Scalar& b);
Tensor operator*(const Tensor& a, const Scalar& b);
Tensor operator/(const Tensor& a, const Scalar& b);
Tensor operator+(const Scalar& a, const Tensor& b);
Tensor operator-(const Scalar& a, const Tensor& b);
Tensor operator*(const Scalar& a, const Tensor& b);
Tensor operator/(const Scalar& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, const Scalar& b);
Tensor& operator-=(Tensor& a, const Scalar& b);
Tensor& operator*=(Tensor& a, const Scalar& b);
Tensor& operator/=(Tensor& a, const Scalar& b);

}  // namespace descent
