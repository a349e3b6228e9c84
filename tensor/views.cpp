// Views that share storage (with strides where they need them), and narrow's copies.
#include <algorithm>
#include <new>
#include <numeric>
#include <stdexcept>

#include "tensor/native.h"

namespace descent::native {

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = ndim == 0 ? -1 : -ndim;
  int64_t hi = ndim == 0 ? 0 : ndim - 1;
  if (dim < lo || dim > hi)
    raise<IndexError>(op, ": dimension out of range (expected to be in range of [", lo, ", ", hi, "], but got ", dim,
                      ")");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

namespace {
void require_strided(const Tensor& t, const char* op) {
  if (t.is_sparse()) raise<NotImplementedError>(op, ": not supported for sparse tensors (call to_dense() first)");
}
}  // namespace

Tensor make_view(const Tensor& base, const Shape& shape, int64_t offset, Dtype dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->offset = offset;
  impl->sizes = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_strided(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset, Dtype dtype) {
  Tensor out = make_view(base, shape, offset, dtype);
  out.impl()->strides = strides;
  return out;
}

Tensor alias(const Tensor& t) {
  Tensor out = make_view(t, t.sizes(), t.storage_offset(), t.dtype());
  out.impl()->strides = t.impl()->strides;
  return out;
}

Tensor empty(const Shape& shape, Dtype dtype, Device device) {
  int64_t n = numel_of(shape);
  auto nbytes = static_cast<std::size_t>(n) * element_size(dtype);
  if (n != 0 && nbytes / element_size(dtype) != static_cast<std::size_t>(n))
    raise<ValueError>("empty: a tensor of shape ", shape_to_string(shape), " and dtype ", to_string(dtype),
                      " needs more bytes than size_t can hold (", n, " elements of ", element_size(dtype), " bytes)");
  auto impl = std::make_shared<TensorImpl>();
  // Whatever the backend throws for a size it cannot allocate becomes a descent error naming the tensor.
  try {
    impl->storage = std::make_shared<Storage>(nbytes, device);
  } catch (const std::bad_alloc&) {
    raise<RuntimeError>("empty: cannot allocate a tensor of shape ", shape_to_string(shape), " and dtype ",
                        to_string(dtype), " (", nbytes, " bytes) on ", device.str(), ": out of memory");
  } catch (const std::length_error& e) {
    raise<RuntimeError>("empty: cannot allocate a tensor of shape ", shape_to_string(shape), " and dtype ",
                        to_string(dtype), " (", nbytes, " bytes) on ", device.str(), ": ", e.what());
  } catch (const RuntimeError& e) {
    raise<RuntimeError>("empty: cannot allocate a tensor of shape ", shape_to_string(shape), " and dtype ",
                        to_string(dtype), " (", nbytes, " bytes) on ", device.str(), ": ", e.what());
  }
  impl->sizes = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

namespace {
// Resolves a single -1 in a requested shape against numel.
Shape infer_shape(const Shape& requested, int64_t numel, const char* op) {
  Shape shape = requested;
  int infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) raise<ShapeError>(op, ": only one dimension can be inferred in shape ", shape_to_string(requested));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      raise<ShapeError>(op, ": invalid shape dimension ", shape[i], " in ", shape_to_string(requested));
    }
  }
  Shape known_dims = shape;
  if (infer >= 0) known_dims[infer] = 1;
  int64_t known = numel_of(known_dims);  // raises on overflow
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      raise<ShapeError>(op, ": shape '", shape_to_string(requested), "' is invalid for input of size ", numel);
    shape[infer] = numel / known;
  } else if (known != numel) {
    raise<ShapeError>(op, ": shape '", shape_to_string(requested), "' is invalid for input of size ", numel);
  }
  return shape;
}
}  // namespace

// PyTorch's computeStride: the dims merged or split must stay within runs of memory-contiguous dims.
std::optional<Shape> view_strides(const Tensor& t, const Shape& shape) {
  const Shape& old_shape = t.sizes();
  const Shape old_strides = t.strides();
  if (old_shape.empty()) return Shape(shape.size(), 1);
  if (t.numel() == 0) {
    if (old_shape == shape) return old_strides;
    return contiguous_strides(shape);
  }
  Shape strides(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

Tensor view(const Tensor& t, const Shape& shape) {
  require_strided(t, "view");
  Shape target = infer_shape(shape, t.numel(), "view");
  if (t.is_contiguous() && t.impl()->strides.empty()) return make_view(t, target, t.storage_offset(), t.dtype());
  std::optional<Shape> strides = view_strides(t, target);
  if (!strides)
    raise<RuntimeError>("view: view size is not compatible with input tensor's size and stride (at least one "
                        "dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
  return make_strided(t, target, *strides, t.storage_offset(), t.dtype());
}

Tensor reshape(const Tensor& t, const Shape& shape) {
  require_strided(t, "reshape");
  Shape target = infer_shape(shape, t.numel(), "reshape");
  if (view_strides(t, target)) return view(t, target);
  return view(clone(t), target);
}

Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim) {
  int64_t n = t.dim();
  if (n == 0) return reshape(t, {1});
  start_dim = wrap_dim(start_dim, n, "flatten");
  end_dim = wrap_dim(end_dim, n, "flatten");
  if (start_dim > end_dim) raise<ValueError>("flatten: start_dim (", start_dim, ") cannot come after end_dim (", end_dim, ")");
  Shape shape(t.sizes().begin(), t.sizes().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) merged *= t.sizes()[i];
  shape.push_back(merged);
  shape.insert(shape.end(), t.sizes().begin() + end_dim + 1, t.sizes().end());
  return reshape(t, shape);
}

// A view when every dim before `dim` has size 1 (the one case a contiguous
// tensor's slice is contiguous); elsewhere a contiguous copy of the slices.
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  require_strided(t, "narrow");
  if (t.dim() == 0) raise<IndexError>("narrow: cannot be applied to a 0-dim tensor");
  dim = wrap_dim(dim, t.dim(), "narrow");
  int64_t size = t.sizes()[dim];
  if (start < -size || start > size) raise<IndexError>("narrow: start (", start, ") is out of range for dimension ", dim, " of size ", size);
  if (start < 0) start += size;
  if (length < 0 || start + length > size)
    raise<IndexError>("narrow: start (", start, ") + length (", length, ") exceeds dimension size (", size, ")");
  Shape shape = t.sizes();
  shape[dim] = length;
  bool leading_units = std::all_of(t.sizes().begin(), t.sizes().begin() + dim, [](int64_t s) { return s == 1; });
  if (leading_units) {
    int64_t offset = t.storage_offset() + start * t.stride(dim);
    if (t.impl()->strides.empty()) return make_view(t, shape, offset, t.dtype());
    return make_strided(t, shape, t.strides(), offset, t.dtype());
  }
  Tensor src = t.is_contiguous() ? t : clone(t);
  int64_t inner = numel_of(Shape(t.sizes().begin() + dim + 1, t.sizes().end()));
  int64_t outer = numel_of(Shape(t.sizes().begin(), t.sizes().begin() + dim));
  Tensor out = empty(shape, t.dtype(), t.device());
  Backend& be = backend_for(t.device().type);
  auto es = static_cast<std::size_t>(t.element_size());
  for (int64_t o = 0; o < outer; ++o) {
    const char* from = static_cast<const char*>(src.data_ptr()) + (o * size + start) * inner * es;
    char* dst = static_cast<char*>(out.data_ptr()) + o * length * inner * es;
    be.copy(dst, from, static_cast<std::size_t>(length * inner) * es);
  }
  return out;
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  if (t.dim() == 0) raise<IndexError>("select: invalid index of a 0-dim tensor");
  dim = wrap_dim(dim, t.dim(), "select");
  int64_t size = t.sizes()[dim];
  if (index < -size || index >= size)
    raise<IndexError>("select: index ", index, " is out of bounds for dimension ", dim, " with size ", size);
  if (index < 0) index += size;
  Tensor slice = narrow(t, dim, index, 1);
  return squeeze(slice, dim);
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  require_strided(t, "unsqueeze");
  dim = wrap_dim(dim, t.dim() + 1, "unsqueeze");
  Shape shape = t.sizes();
  shape.insert(shape.begin() + dim, 1);
  if (t.impl()->strides.empty()) return make_view(t, shape, t.storage_offset(), t.dtype());
  Shape strides = t.strides();
  strides.insert(strides.begin() + dim, dim >= t.dim() ? 1 : t.sizes()[dim] * strides[dim]);
  return make_strided(t, shape, strides, t.storage_offset(), t.dtype());
}

Tensor squeeze(const Tensor& t, std::optional<int64_t> dim) {
  require_strided(t, "squeeze");
  const Shape strides = t.strides();
  Shape shape, kept;
  std::optional<int64_t> d;
  if (dim) d = wrap_dim(*dim, t.dim(), "squeeze");
  for (int64_t i = 0; i < t.dim(); ++i) {
    bool drop = t.sizes()[i] == 1 && (!d || *d == i);
    if (drop) continue;
    shape.push_back(t.sizes()[i]);
    kept.push_back(strides[i]);
  }
  if (t.impl()->strides.empty()) return make_view(t, shape, t.storage_offset(), t.dtype());
  return make_strided(t, shape, kept, t.storage_offset(), t.dtype());
}

Tensor permute(const Tensor& t, const Shape& dims) {
  require_strided(t, "permute");
  int64_t n = t.dim();
  if (static_cast<int64_t>(dims.size()) != n)
    raise<ShapeError>("permute: number of dims in ", shape_to_string(dims), " doesn't match the tensor's ", n, " dims");
  std::vector<bool> seen(dims.size(), false);
  const Shape in_strides = t.strides();
  Shape shape(n), strides(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    if (seen[d]) raise<ValueError>("permute: repeated dim ", dims[i], " in ", shape_to_string(dims));
    seen[d] = true;
    shape[i] = t.sizes()[d];
    strides[i] = in_strides[d];
  }
  return make_strided(t, shape, strides, t.storage_offset(), t.dtype());
}

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  int64_t n = t.dim();
  if (n == 0) return make_view(t, {}, t.storage_offset(), t.dtype());
  Shape order(n);
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[wrap_dim(dim0, n, "transpose")], order[wrap_dim(dim1, n, "transpose")]);
  return permute(t, order);
}

// PyTorch's inferExpandGeometry: expanded dims (and new leading dims of size > 1) get stride 0.
Tensor expand(const Tensor& t, const Shape& shape) {
  require_strided(t, "expand");
  int64_t ndim = static_cast<int64_t>(shape.size());
  int64_t offset = ndim - t.dim();
  if (offset < 0)
    raise<ShapeError>("expand: the number of sizes provided (", shape.size(), ") must be greater or equal to the number of dimensions in the tensor (", t.dim(), ")");
  const Shape in_strides = t.strides();
  Shape sizes(ndim), strides(ndim);
  for (int64_t i = ndim - 1; i >= 0; --i) {
    int64_t d = i - offset;
    int64_t have = d >= 0 ? t.sizes()[d] : 1;
    int64_t stride = d >= 0 ? in_strides[d] : (i == ndim - 1 ? 1 : sizes[i + 1] * strides[i + 1]);
    int64_t want = shape[i];
    if (want == -1) {
      if (d < 0) raise<ShapeError>("expand: the expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension ", i);
      want = have;
    }
    if (want < 0) raise<ShapeError>("expand: invalid size ", want, " at dimension ", i, " in ", shape_to_string(shape));
    if (have != want) {
      if (have != 1)
        raise<ShapeError>("expand: the expanded size of the tensor (", want, ") must match the existing size (", have,
                          ") at non-singleton dimension ", i, ".  Target sizes: ", shape_to_string(shape),
                          ".  Tensor sizes: ", shape_to_string(t.sizes()));
      stride = 0;
    }
    sizes[i] = want;
    strides[i] = stride;
  }
  numel_of(sizes);
  return make_strided(t, sizes, strides, t.storage_offset(), t.dtype());
}

Tensor view_as_real(const Tensor& t) {
  if (!is_complex(t.dtype()))
    raise<TypeError>("view_as_real: is only supported for complex tensors, but got a tensor of dtype ", to_string(t.dtype()));
  Shape shape = t.sizes();
  shape.push_back(2);
  if (t.impl()->strides.empty()) return make_view(t, shape, t.storage_offset() * 2, to_real_dtype(t.dtype()));
  Shape strides = t.strides();
  for (int64_t& s : strides) s *= 2;
  strides.push_back(1);
  return make_strided(t, shape, strides, t.storage_offset() * 2, to_real_dtype(t.dtype()));
}

Tensor view_as_complex(const Tensor& t) {
  if (t.dtype() != kFloat32 && t.dtype() != kFloat64)
    raise<TypeError>("view_as_complex: is only supported for float32 and float64 tensors, but got a tensor of dtype ",
                     to_string(t.dtype()));
  if (t.dim() == 0 || t.sizes().back() != 2)
    raise<ShapeError>("view_as_complex: tensor must have a last dimension of size 2, but got shape ", shape_to_string(t.sizes()));
  if (t.storage_offset() % 2 != 0)
    raise<ValueError>("view_as_complex: tensor must have a storage_offset divisible by 2, but got ", t.storage_offset());
  Shape shape(t.sizes().begin(), t.sizes().end() - 1);
  if (t.impl()->strides.empty()) return make_view(t, shape, t.storage_offset() / 2, to_complex_dtype(t.dtype()));
  const Shape strides = t.strides();
  if (strides.back() != 1) raise<ValueError>("view_as_complex: tensor must have a last dimension with stride 1");
  Shape halved;
  for (std::size_t i = 0; i + 1 < strides.size(); ++i) {
    if (strides[i] % 2 != 0)
      raise<ValueError>("view_as_complex: tensor must have a stride divisible by 2 for all but last dimension");
    halved.push_back(strides[i] / 2);
  }
  return make_strided(t, shape, halved, t.storage_offset() / 2, to_complex_dtype(t.dtype()));
}

}  // namespace descent::native
