#pragma once
// The tensor layer's operations on a TensorImpl, for loops that must not go
// through handles. A fused optimizer step over thousands of small params is
// bound by cache misses on tensor metadata, so it keeps impl pointers and
// asks these inline functions about layout, data and versions; what they
// read and write (storage, offset, sizes, version counter) stays the tensor
// layer's business.
#include <cstdint>
#include <optional>

#include "descent/tensor/tensor.h"

namespace descent::impl {

// Dense memory: elements laid out contiguously from data().
inline bool is_dense(const TensorImpl& t) { return t.layout == Layout::Strided; }

// The device of a dense tensor's storage.
inline const Device& device(const TensorImpl& t) { return t.storage->device; }

// Whether `b` can be read element for element with `a`'s layout: both dense
// and contiguous, with the same dtype, device and shape. (Shapes are compared inline: a
// call to memcmp per tensor shows in a fused step.)
inline bool same_dense_layout(const TensorImpl& a, const TensorImpl& b) {
  if (a.dtype != b.dtype || !is_dense(a) || !is_dense(b) || a.storage->device != b.storage->device ||
      a.sizes.size() != b.sizes.size())
    return false;
  if (!(a.strides.empty() && b.strides.empty()) && !(is_contiguous(a) && is_contiguous(b))) return false;
  for (std::size_t d = 0; d < a.sizes.size(); ++d)
    if (a.sizes[d] != b.sizes[d]) return false;
  return true;
}

// The first element of a dense tensor.
inline void* data(const TensorImpl& t) {
  return static_cast<char*>(t.storage->data) + t.offset * static_cast<int64_t>(element_size(t.dtype));
}

// Records `delta` in-place writes (negative: undoes them) in the version
// counter that every view of the storage shares.
inline void add_to_version(const TensorImpl& t, int64_t delta) { t.storage->version += delta; }

// The value of a one-element float32/float64 CPU tensor, when it is one.
inline bool is_host_scalar(const TensorImpl& t) {
  return is_dense(t) && t.storage->device.is_cpu() && numel_of(t.sizes) == 1 &&
         (t.dtype == kFloat32 || t.dtype == kFloat64);
}

// Adds `amount` to a host scalar in its own dtype, as `t.add_(amount)` does,
// and records the write; returns the new value and sets *previous to the old.
inline double add_to_host_scalar(const TensorImpl& t, double amount, double* previous) {
  double value;
  if (t.dtype == kFloat32) {
    float& v = *static_cast<float*>(data(t));
    *previous = v;
    v = v + static_cast<float>(amount);
    value = v;
  } else {
    double& v = *static_cast<double*>(data(t));
    *previous = v;
    v = v + amount;
    value = v;
  }
  add_to_version(t, 1);
  return value;
}

inline double read_host_scalar(const TensorImpl& t) {
  return t.dtype == kFloat32 ? static_cast<double>(*static_cast<const float*>(data(t)))
                             : *static_cast<const double*>(data(t));
}

// Stores the value rounded to the scalar's dtype, recording nothing.
inline void store_host_scalar(const TensorImpl& t, double value) {
  if (t.dtype == kFloat32)
    *static_cast<float*>(data(t)) = static_cast<float>(value);
  else
    *static_cast<double*>(data(t)) = value;
}

// `t.fill_(value)`.
inline void set_host_scalar(const TensorImpl& t, double value) {
  store_host_scalar(t, value);
  add_to_version(t, 1);
}

// `t.mul_(factor)` in the scalar's dtype (a float32 scalar multiplies by the
// factor rounded to float, as the tensor op does); returns the new value.
inline double mul_host_scalar(const TensorImpl& t, double factor) {
  if (t.dtype == kFloat32) {
    float& v = *static_cast<float*>(data(t));
    v = v * static_cast<float>(factor);
  } else {
    *static_cast<double*>(data(t)) *= factor;
  }
  add_to_version(t, 1);
  return read_host_scalar(t);
}

// Undoes add_to_host_scalar: the scalar holds `previous` and its version
// counter is back where it was.
inline void restore_host_scalar(const TensorImpl& t, double previous) {
  store_host_scalar(t, previous);
  add_to_version(t, -1);
}

}  // namespace descent::impl
