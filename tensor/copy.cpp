// Conversions between dtypes and devices, clone, copy_ and fill_.
#include "tensor/native.h"

namespace descent::native {

namespace {
// Moves contiguous bytes between devices (both tensors contiguous); at least one side is the host or both share a backend.
void transfer(const Tensor& src, Tensor& dst) {
  std::size_t n = static_cast<std::size_t>(src.nbytes());
  if (n == 0) return;
  Device s = src.device(), d = dst.device();
  if (s.is_cpu() && d.is_cpu()) {
    backend_for(kCPU).copy(dst.data_ptr(), src.data_ptr(), n);
  } else if (s.is_cpu()) {
    backend_for(d.type).copy_from_host(dst.data_ptr(), src.data_ptr(), n);
  } else if (d.is_cpu()) {
    backend_for(s.type).copy_to_host(dst.data_ptr(), src.data_ptr(), n);
  } else if (s == d) {
    backend_for(s.type).copy(dst.data_ptr(), src.data_ptr(), n);
  } else {
    Tensor staging = empty(src.sizes(), src.dtype(), Device(kCPU));
    transfer(src, staging);
    transfer(staging, dst);
  }
}

Tensor cast_same_device(const Tensor& t, Dtype dtype) {
  Tensor src = t.is_contiguous() ? t : clone(t);
  Tensor out = empty(t.sizes(), dtype, t.device());
  if (t.numel() > 0) backend_for(t.device().type).cast(src.data_ptr(), t.dtype(), out.data_ptr(), dtype, t.numel());
  return out;
}

// Copies src (same device and dtype as dst) element by element through both tensors' strides.
void strided_copy(const char* name, const Tensor& src, Tensor& dst) {
  elementwise(name, {BinaryOp::Copy, dst.dtype(), dst.dtype()}, {src}, &dst);
}
}  // namespace

Tensor to(const Tensor& t, Device device, Dtype dtype, bool copy) {
  if (t.is_sparse()) {
    if (!copy && t.device() == device && t.dtype() == dtype) return t;
    Tensor values = to(t._values(), device, dtype, copy);
    Tensor indices = to(t._indices(), device, kInt64, copy);
    return sparse_coo_tensor(indices, values, t.sizes(), t.is_coalesced());
  }
  if (!copy && t.device() == device && t.dtype() == dtype) return t;
  if (t.device() == device) return t.dtype() == dtype ? clone(t) : cast_same_device(t, dtype);
  // Cast on the host side of the transfer so the device never needs a staging buffer.
  Tensor src = t;
  if (t.dtype() != dtype && t.device().is_cpu()) src = cast_same_device(t, dtype);
  if (!src.is_contiguous()) src = clone(src);
  Tensor moved = empty(t.sizes(), src.dtype(), device);
  transfer(src, moved);
  if (moved.dtype() != dtype) moved = cast_same_device(moved, dtype);
  return moved;
}

Tensor clone(const Tensor& t) {
  if (t.is_sparse()) return to(t, t.device(), t.dtype(), true);
  Tensor out = empty(t.sizes(), t.dtype(), t.device());
  if (t.is_contiguous()) {
    transfer(t, out);
  } else {
    strided_copy("clone", t, out);
    out.impl()->storage->version = 0;  // a new tensor, not one written in place
  }
  return out;
}

Tensor contiguous(const Tensor& t) { return t.is_sparse() || t.is_contiguous() ? t : clone(t); }

Tensor& copy_(Tensor& self, const Tensor& src) {
  if (self.is_sparse() || src.is_sparse()) {
    if (!(self.is_sparse() && src.is_sparse()))
      raise<NotImplementedError>("copy_: copying between sparse and dense tensors is not supported (use to_dense())");
    Tensor c = to(src, self.device(), self.dtype(), true);
    self.impl()->sizes = c.sizes();
    self.impl()->sparse_indices = c._indices();
    self.impl()->sparse_values = c._values();
    self.impl()->coalesced = c.is_coalesced();
    return self;
  }
  Shape b = broadcast_shapes(self.sizes(), src.sizes());
  if (b != self.sizes())
    raise<ShapeError>("copy_: source of shape ", shape_to_string(src.sizes()),
                      " cannot be broadcast to the destination shape ", shape_to_string(self.sizes()));
  if (src.sizes() == self.sizes()) {
    Tensor converted = src;
    if (src.dtype() != self.dtype()) converted = src.device() == self.device() || !src.device().is_cpu()
                                                     ? to(src, src.device(), self.dtype(), false)
                                                     : cast_same_device(src, self.dtype());
    if (converted.device() == self.device() && converted.storage() == self.storage() &&
        converted.storage_offset() == self.storage_offset() && converted.strides() == self.strides()) {
      self.bump_version();
      return self;
    }
    if (converted.dtype() != self.dtype()) converted = to(converted, self.device(), self.dtype(), false);
    if (converted.storage() == self.storage()) {
      auto [s0, s1] = byte_span(converted);
      auto [d0, d1] = byte_span(self);
      if (s0 < d1 && d0 < s1)
        raise<RuntimeError>("copy_: unsupported operation: some elements of the input tensor and the written-to tensor "
                            "refer to a single memory location. Please clone() the tensor before performing the "
                            "operation.");
    }
    if (converted.is_contiguous() && self.is_contiguous()) {
      transfer(converted, self);
      self.bump_version();
      return self;
    }
    if (converted.device() != self.device()) converted = to(converted, self.device(), self.dtype(), false);
    strided_copy("copy_", converted, self);
    return self;
  }
  // Broadcasting copy: run the Copy kernel on the destination's device.
  Tensor s = to(src, self.device(), self.dtype(), false);
  elementwise("copy_", {BinaryOp::Copy, self.dtype(), self.dtype()}, {s}, &self);
  return self;
}

Tensor& fill_(Tensor& self, const Scalar& value) {
  if (self.is_sparse()) raise<NotImplementedError>("fill_: not supported for sparse tensors");
  if (value.is_complex() && !is_complex(self.dtype()))
    raise<TypeError>("fill_: cannot fill a tensor of dtype ", to_string(self.dtype()), " with the complex value ",
                     value.str());
  if (!self.is_contiguous()) {
    // Fill dense memory, then write it through self's strides.
    Tensor dense = empty(self.sizes(), self.dtype(), self.device());
    fill_(dense, value);
    check_no_internal_overlap("fill_", self);
    return copy_(self, dense);
  }
  if (self.numel() > 0) backend_for(self.device().type).fill(self.data_ptr(), self.dtype(), self.numel(), value.to_complex());
  self.bump_version();
  return self;
}

}  // namespace descent::native
