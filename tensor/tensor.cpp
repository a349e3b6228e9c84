// Tensor metadata, storage, views and conversions.
#include "descent/tensor/tensor.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "descent/tensor/memory_stats.h"
#include "tensor/native.h"

namespace descent {

Storage::Storage(std::size_t n, Device d) : nbytes(n), device(d) {
  data = backend_for(d.type).allocate(n, d.index);
  detail::record_allocation(d.type, static_cast<int64_t>(n));
}
Storage::Storage(void* borrowed, std::size_t n, Device d) : data(borrowed), nbytes(n), device(d), owned(false) {}
Storage::~Storage() {
  if (!owned || data == nullptr) return;
  backend_for(device.type).deallocate(data, device.index);
  detail::record_release(device.type, static_cast<int64_t>(nbytes));
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t numel_of(const Shape& shape) {
  constexpr int64_t max = std::numeric_limits<int64_t>::max();
  int64_t n = 1;
  // Strides multiply the nonzero sizes, so an empty tensor's shape must keep them in range too (as PyTorch).
  int64_t extent = 1;
  for (int64_t d : shape) {
    if (d < 0) raise<ValueError>("invalid shape ", shape_to_string(shape), ": negative dimension ", d);
    if (d != 0 && n > max / d)
      raise<ValueError>("invalid shape ", shape_to_string(shape), ": number of elements overflows int64");
    if (d != 0 && extent > max / d)
      raise<ValueError>("invalid shape ", shape_to_string(shape), ": stride calculation overflows int64");
    n *= d;
    extent *= std::max<int64_t>(d, 1);
  }
  return n;
}

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  if (!impl) raise<RuntimeError>("operation on an undefined tensor (a default-constructed Tensor holds no data)");
  return *impl;
}
}  // namespace

const Shape& Tensor::sizes() const { return checked(impl_).sizes; }
int64_t Tensor::dim() const { return static_cast<int64_t>(checked(impl_).sizes.size()); }
int64_t Tensor::numel() const { return numel_of(checked(impl_).sizes); }
Dtype Tensor::dtype() const { return checked(impl_).dtype; }
Layout Tensor::layout() const { return checked(impl_).layout; }
int64_t Tensor::storage_offset() const { return checked(impl_).offset; }

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  return sizes()[native::wrap_dim(d, n, "size")];
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

Shape Tensor::strides() const {
  const TensorImpl& impl = checked(impl_);
  if (impl.layout == Layout::SparseCoo) raise<RuntimeError>("strides: sparse tensors do not have strides");
  return impl.strides.empty() ? contiguous_strides(impl.sizes) : impl.strides;
}

int64_t Tensor::stride(int64_t d) const { return strides()[native::wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const { return descent::is_contiguous(checked(impl_)); }

bool is_contiguous(const TensorImpl& impl) {
  if (impl.strides.empty()) return true;
  int64_t expected = 1;
  for (int64_t i = static_cast<int64_t>(impl.sizes.size()) - 1; i >= 0; --i) {
    if (impl.sizes[i] == 0) return true;
    if (impl.sizes[i] == 1) continue;
    if (impl.strides[i] != expected) return false;
    expected *= impl.sizes[i];
  }
  return true;
}

Device Tensor::device() const {
  const TensorImpl& impl = checked(impl_);
  if (impl.layout == Layout::SparseCoo) return impl.sparse_values.device();
  return impl.storage->device;
}

const std::shared_ptr<Storage>& Tensor::storage() const {
  const TensorImpl& impl = checked(impl_);
  if (impl.layout == Layout::SparseCoo)
    raise<RuntimeError>("storage: sparse tensors do not have storage (use indices() and values())");
  return impl.storage;
}

void* Tensor::data_ptr() const {
  const auto& st = storage();
  return static_cast<char*>(st->data) + impl_->offset * static_cast<int64_t>(element_size());
}

template <typename T>
T* Tensor::data_ptr() const {
  if (dtype_of<std::remove_const_t<T>>::value != dtype())
    raise<TypeError>("data_ptr: expected a tensor of dtype ", to_string(dtype_of<std::remove_const_t<T>>::value),
                     " but the tensor has dtype ", to_string(dtype()));
  return static_cast<T*>(data_ptr());
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = native::to(is_sparse() ? native::to_dense(*this) : *this, Device(kCPU), dtype_of<T>::value, false);
  if (!host.is_contiguous()) host = native::clone(host);
  const T* p = static_cast<const T*>(host.data_ptr());
  return std::vector<T>(p, p + host.numel());
}

#define DESCENT_INSTANTIATE(T)                  \
  template T* Tensor::data_ptr<T>() const;       \
  template std::vector<T> Tensor::to_vector<T>() const;
DESCENT_INSTANTIATE(bool)
DESCENT_INSTANTIATE(int64_t)
DESCENT_INSTANTIATE(Half)
DESCENT_INSTANTIATE(BFloat16)
DESCENT_INSTANTIATE(float)
DESCENT_INSTANTIATE(double)
DESCENT_INSTANTIATE(std::complex<float>)
DESCENT_INSTANTIATE(std::complex<double>)
#undef DESCENT_INSTANTIATE

Scalar Tensor::item() const {
  if (numel() != 1)
    raise<ValueError>("item: a Tensor with ", numel(), " elements cannot be converted to Scalar (needs exactly 1)");
  Tensor host = native::to(is_sparse() ? native::to_dense(*this) : *this, Device(kCPU), dtype(), false);
  return dispatch_dtype(dtype(), [&](auto tag) -> Scalar {
    using T = decltype(tag);
    return Scalar(*static_cast<const T*>(host.data_ptr()));
  });
}

int64_t Tensor::_version() const { return checked(impl_).storage ? impl_->storage->version : 0; }
void Tensor::bump_version() const {
  if (checked(impl_).storage) ++impl_->storage->version;
}

}  // namespace descent
