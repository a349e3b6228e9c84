#pragma once
// descent::Tensor: a handle to shared storage with a shape, strides, storage
// offset, dtype and device. Copying a Tensor copies the handle (both refer to
// the same tensor, as in PyTorch); clone() copies the data into a contiguous
// tensor. Views share storage: view/reshape (when the strides allow it, as
// PyTorch), flatten, unsqueeze, squeeze, t, transpose, permute, expand (stride
// 0), narrow/select (a view when every dimension before `dim` has size 1,
// otherwise a copy, unlike PyTorch), view_as_real and
// view_as_complex. is_contiguous(), contiguous() and stride() follow PyTorch.
// Kernels receive strides where they can use them (elementwise, matmul) and
// contiguous() copies elsewhere; see docs/architecture.md, "Strides".
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "descent/devices/backend.h"
#include "descent/devices/device.h"
#include "descent/devices/dtype.h"
#include "descent/error.h"
#include "descent/tensor/scalar.h"

namespace descent {

using Shape = std::vector<int64_t>;

namespace autograd {
struct AutogradMeta;
class Node;
}  // namespace autograd

/// Device memory owned by one or more tensors. The version counter is shared
/// by every view of the storage; autograd uses it to detect in-place
/// modification of saved tensors.
struct Storage {
  void* data = nullptr;
  std::size_t nbytes = 0;
  Device device;
  int64_t version = 0;
  // Memory the user lent with from_blob: never freed by descent.
  bool owned = true;

  Storage(std::size_t nbytes, Device device);
  Storage(void* borrowed, std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

enum class Layout : int8_t { Strided, SparseCoo };

struct TensorImpl;

/// Optional factory arguments, as PyTorch's keyword arguments:
/// zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true}).
struct TensorOptions {
  std::optional<Dtype> dtype{};
  std::optional<Device> device{};  // unset: CPU, or the source tensor's device for *_like
  bool requires_grad = false;
};

/// A strided view of shared Storage with a dtype, a device and autograd metadata; copying a Tensor shares it (as in Python), clone() copies the data.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  // Identity, not value: the same tensor object (Python's `is`).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl* unsafe_get_impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

  // ---- metadata ----
  const Shape& sizes() const;
  const Shape& shape() const { return sizes(); }
  int64_t size(int64_t dim) const;
  int64_t dim() const;
  int64_t ndimension() const { return dim(); }
  int64_t numel() const;
  Shape strides() const;  // in elements
  Shape stride() const { return strides(); }
  int64_t stride(int64_t dim) const;
  // PyTorch's rule: strides are the row-major ones, ignoring dims of size 1 (any empty tensor is contiguous).
  bool is_contiguous() const;
  Dtype dtype() const;
  Dtype scalar_type() const { return dtype(); }
  Device device() const;
  bool is_cuda() const { return device().is_cuda(); }
  bool is_cpu() const { return device().is_cpu(); }
  Layout layout() const;
  bool is_sparse() const { return layout() == Layout::SparseCoo; }
  bool is_complex() const { return descent::is_complex(dtype()); }
  bool is_floating_point() const { return descent::is_floating_point(dtype()); }
  int64_t element_size() const { return static_cast<int64_t>(descent::element_size(dtype())); }
  int64_t nbytes() const { return numel() * element_size(); }
  const std::shared_ptr<Storage>& storage() const;
  int64_t storage_offset() const;  // in elements

  // Raw memory for kernels (device memory for CUDA tensors).
  void* data_ptr() const;
  template <typename T>
  T* data_ptr() const;
  // Copies the elements to a host vector, converting to T.
  template <typename T>
  std::vector<T> to_vector() const;
  // The value of a one-element tensor.
  Scalar item() const;
  template <typename T>
  T item() const { return item().to<T>(); }

  // ---- conversion and copies ----
  Tensor to(Dtype dtype, bool copy = false) const;
  Tensor to(Device device, bool copy = false) const;
  Tensor to(Device device, Dtype dtype, bool copy = false) const;
  Tensor cpu() const { return to(Device(kCPU)); }
  Tensor cuda(int index = 0) const { return to(Device(kCUDA, index)); }
  Tensor clone() const;
  // This tensor when contiguous, else a contiguous copy (recorded by autograd, as clone).
  Tensor contiguous() const;
  // Copies src into this tensor (broadcast, dtype and device converted).
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(const Scalar& value);
  Tensor& fill_(const Tensor& value);  // a one-element tensor
  Tensor& zero_();

  // ---- views ----
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor view_as(const Tensor& other) const { return view(other.sizes()); }
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  // Strided views of the same storage.
  Tensor t() const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor permute(const Shape& dims) const;
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }

  // ---- elementwise (out of place and in place) ----
  Tensor add(const Tensor& other, const Scalar& alpha = 1) const;
  Tensor add(const Scalar& other, const Scalar& alpha = 1) const;
  Tensor& add_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& add_(const Scalar& other, const Scalar& alpha = 1);
  Tensor sub(const Tensor& other, const Scalar& alpha = 1) const;
  Tensor sub(const Scalar& other, const Scalar& alpha = 1) const;
  Tensor& sub_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& sub_(const Scalar& other, const Scalar& alpha = 1);
  Tensor mul(const Tensor& other) const;
  Tensor mul(const Scalar& other) const;
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor div(const Tensor& other) const;
  Tensor div(const Scalar& other) const;
  Tensor& div_(const Tensor& other);
  Tensor& div_(const Scalar& other);
  Tensor pow(const Tensor& exponent) const;
  Tensor pow(const Scalar& exponent) const;
  Tensor& pow_(const Tensor& exponent);
  Tensor& pow_(const Scalar& exponent);
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor clamp(const std::optional<Tensor>& min, const std::optional<Tensor>& max = std::nullopt) const;
  Tensor& clamp_(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
  Tensor& clamp_(const std::optional<Tensor>& min, const std::optional<Tensor>& max = std::nullopt);
  Tensor clamp_min(const Scalar& min) const { return clamp(min, std::nullopt); }
  Tensor clamp_max(const Scalar& max) const { return clamp(std::nullopt, max); }
  Tensor& clamp_min_(const Scalar& min) { return clamp_(min, std::nullopt); }
  Tensor& clamp_max_(const Scalar& max) { return clamp_(std::nullopt, max); }
  Tensor lerp(const Tensor& end, const Scalar& weight) const;
  Tensor lerp(const Tensor& end, const Tensor& weight) const;
  Tensor& lerp_(const Tensor& end, const Scalar& weight);
  Tensor& lerp_(const Tensor& end, const Tensor& weight);
  Tensor addcmul(const Tensor& tensor1, const Tensor& tensor2, const Scalar& value = 1) const;
  Tensor& addcmul_(const Tensor& tensor1, const Tensor& tensor2, const Scalar& value = 1);
  Tensor addcdiv(const Tensor& tensor1, const Tensor& tensor2, const Scalar& value = 1) const;
  Tensor& addcdiv_(const Tensor& tensor1, const Tensor& tensor2, const Scalar& value = 1);

  Tensor neg() const;
  Tensor& neg_();
  Tensor abs() const;
  Tensor& abs_();
  Tensor sign() const;
  Tensor& sign_();
  Tensor sqrt() const;
  Tensor& sqrt_();
  Tensor rsqrt() const;
  Tensor& rsqrt_();
  Tensor exp() const;
  Tensor& exp_();
  Tensor log() const;
  Tensor& log_();
  Tensor reciprocal() const;
  Tensor& reciprocal_();
  Tensor square() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor erf() const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor relu() const;
  Tensor conj() const;
  Tensor real() const;  // a copy; see view_as_real for a view
  Tensor imag() const;
  Tensor isfinite() const;
  Tensor isnan() const;
  Tensor isinf() const;
  Tensor logical_not() const;

  Tensor eq(const Tensor& other) const;
  Tensor eq(const Scalar& other) const;
  Tensor ne(const Tensor& other) const;
  Tensor ne(const Scalar& other) const;
  Tensor lt(const Tensor& other) const;
  Tensor lt(const Scalar& other) const;
  Tensor le(const Tensor& other) const;
  Tensor le(const Scalar& other) const;
  Tensor gt(const Tensor& other) const;
  Tensor gt(const Scalar& other) const;
  Tensor ge(const Tensor& other) const;
  Tensor ge(const Scalar& other) const;

  // ---- reductions ----
  Tensor sum(std::optional<Dtype> dtype = std::nullopt) const;
  Tensor sum(const Shape& dims, bool keepdim = false, std::optional<Dtype> dtype = std::nullopt) const;
  Tensor mean(std::optional<Dtype> dtype = std::nullopt) const;
  Tensor mean(const Shape& dims, bool keepdim = false, std::optional<Dtype> dtype = std::nullopt) const;
  Tensor prod(std::optional<Dtype> dtype = std::nullopt) const;
  Tensor max() const;
  std::tuple<Tensor, Tensor> max(int64_t dim, bool keepdim = false) const;  // values, indices
  Tensor min() const;
  std::tuple<Tensor, Tensor> min(int64_t dim, bool keepdim = false) const;
  Tensor amax(const Shape& dims = {}, bool keepdim = false) const;
  Tensor amin(const Shape& dims = {}, bool keepdim = false) const;
  // p = 2, inf (std::numeric_limits<double>::infinity()), or any other positive p.
  Tensor norm(double p = 2.0) const;
  Tensor norm(double p, const Shape& dims, bool keepdim = false) const;
  Tensor dot(const Tensor& other) const;
  Tensor vdot(const Tensor& other) const;
  Tensor all() const;
  Tensor any() const;
  Tensor matmul(const Tensor& other) const;
  Tensor mm(const Tensor& other) const { return matmul(other); }

  // ---- sparse COO ----
  Tensor coalesce() const;
  bool is_coalesced() const;
  Tensor to_dense() const;
  // indices()/values() require a coalesced tensor, as PyTorch; _indices()/_values() do not.
  Tensor indices() const;  // [sparse_dim, nnz] int64
  Tensor values() const;   // [nnz, dense dims...]
  Tensor _indices() const;
  Tensor _values() const;
  // The entries of this dense tensor at the (coalesced) sparse mask's indices, as a sparse tensor.
  Tensor sparse_mask(const Tensor& mask) const;
  int64_t _nnz() const;
  int64_t sparse_dim() const;
  int64_t dense_dim() const;
  Tensor to_sparse() const;

  // ---- autograd (autograd/) ----
  bool requires_grad() const;
  Tensor& requires_grad_(bool requires_grad = true);
  const Tensor& grad() const;
  Tensor& mutable_grad();
  void set_grad(const Tensor& grad) const;
  std::shared_ptr<autograd::Node> grad_fn() const;
  bool is_leaf() const;
  void retain_grad() const;
  bool retains_grad() const;
  Tensor detach() const;
  Tensor& detach_();
  void backward(const Tensor& gradient = Tensor(), std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;
  int64_t _version() const;
  // Bumps the version counter: call after writing through data_ptr().
  void bump_version() const;

  // PyTorch's repr: "tensor([1., 2.], dtype=torch.float64)".
  std::string repr() const;
  std::string str() const { return repr(); }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

/// The state behind a Tensor handle (storage, offset, sizes, strides, version, autograd); handles that share it are the same tensor.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // elements
  Shape sizes;
  // Element strides; empty means the contiguous strides of `sizes` (every
  // freshly allocated tensor), so only views made by t/transpose/permute/
  // expand/narrow carry them.
  Shape strides;
  Dtype dtype = kFloat32;
  Layout layout = Layout::Strided;
  // Sparse COO: indices [sparse_dim, nnz] int64 and values [nnz, dense...].
  Tensor sparse_indices;
  Tensor sparse_values;
  bool coalesced = false;
  std::shared_ptr<autograd::AutogradMeta> autograd_meta;
};

// Tensor::is_contiguous on an impl (strided layout).
bool is_contiguous(const TensorImpl& impl);

std::ostream& operator<<(std::ostream& out, const Tensor& t);
std::ostream& operator<<(std::ostream& out, Dtype dtype);
std::ostream& operator<<(std::ostream& out, const Device& device);

// "[2, 3]"
std::string shape_to_string(const Shape& shape);
int64_t numel_of(const Shape& shape);
// Row-major strides of a shape (dims of size 0 count as 1, as PyTorch).
Shape contiguous_strides(const Shape& shape);

/// Hashes by identity, for maps keyed by parameter (optimizer state).
struct TensorIdentityHash {
  std::size_t operator()(const Tensor& t) const { return std::hash<const void*>()(t.unsafe_get_impl()); }
};
/// Compares tensors by identity, the partner of TensorIdentityHash.
struct TensorIdentityEqual {
  bool operator()(const Tensor& a, const Tensor& b) const { return a.is_same(b); }
};

}  // namespace descent
