// Views that share storage, and the copies that stand in for strided views.
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

Tensor view(const Tensor& t, const Shape& shape) {
  require_strided(t, "view");
  return make_view(t, infer_shape(shape, t.numel(), "view"), t.storage_offset(), t.dtype());
}

Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim) {
  int64_t n = t.dim();
  if (n == 0) return view(t, {1});
  start_dim = wrap_dim(start_dim, n, "flatten");
  end_dim = wrap_dim(end_dim, n, "flatten");
  if (start_dim > end_dim) raise<ValueError>("flatten: start_dim (", start_dim, ") cannot come after end_dim (", end_dim, ")");
  Shape shape(t.sizes().begin(), t.sizes().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) merged *= t.sizes()[i];
  shape.push_back(merged);
  shape.insert(shape.end(), t.sizes().begin() + end_dim + 1, t.sizes().end());
  return view(t, shape);
}

// A contiguous view exists only along the first non-unit dimension; elsewhere copy.
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
  int64_t inner = numel_of(Shape(t.sizes().begin() + dim + 1, t.sizes().end()));
  if (leading_units) return make_view(t, shape, t.storage_offset() + start * inner, t.dtype());
  // Not expressible without strides: gather the slices.
  int64_t outer = numel_of(Shape(t.sizes().begin(), t.sizes().begin() + dim));
  Tensor out = empty(shape, t.dtype(), t.device());
  Backend& be = backend_for(t.device().type);
  auto es = static_cast<std::size_t>(t.element_size());
  for (int64_t o = 0; o < outer; ++o) {
    const char* src = static_cast<const char*>(t.data_ptr()) + (o * size + start) * inner * es;
    char* dst = static_cast<char*>(out.data_ptr()) + o * length * inner * es;
    be.copy(dst, src, static_cast<std::size_t>(length * inner) * es);
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
  Shape shape = slice.sizes();
  shape.erase(shape.begin() + dim);
  return make_view(slice, shape, slice.storage_offset(), t.dtype());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  require_strided(t, "unsqueeze");
  dim = wrap_dim(dim, t.dim() + 1, "unsqueeze");
  Shape shape = t.sizes();
  shape.insert(shape.begin() + dim, 1);
  return make_view(t, shape, t.storage_offset(), t.dtype());
}

Tensor squeeze(const Tensor& t, std::optional<int64_t> dim) {
  require_strided(t, "squeeze");
  Shape shape;
  if (dim) {
    int64_t d = wrap_dim(*dim, t.dim(), "squeeze");
    shape = t.sizes();
    if (t.dim() > 0 && shape[d] == 1) shape.erase(shape.begin() + d);
  } else {
    for (int64_t s : t.sizes())
      if (s != 1) shape.push_back(s);
  }
  return make_view(t, shape, t.storage_offset(), t.dtype());
}

Tensor permute(const Tensor& t, const Shape& dims) {
  require_strided(t, "permute");
  int64_t n = t.dim();
  if (static_cast<int64_t>(dims.size()) != n)
    raise<ShapeError>("permute: number of dims in ", shape_to_string(dims), " doesn't match the tensor's ", n, " dims");
  Shape order(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    order[i] = wrap_dim(dims[i], n, "permute");
    if (seen[order[i]]) raise<ValueError>("permute: repeated dim ", dims[i], " in ", shape_to_string(dims));
    seen[order[i]] = true;
  }
  Shape out_shape(n);
  for (int64_t i = 0; i < n; ++i) out_shape[i] = t.sizes()[order[i]];
  // Gather through the elementwise engine: the input is read with permuted strides.
  Shape in_strides = t.strides();
  ElementwiseArgs args;
  args.numel = t.numel();
  args.ndim = static_cast<int>(n);
  for (int64_t i = 0; i < n; ++i) {
    args.sizes[i] = out_shape[i];
    args.inputs[0].strides[i] = in_strides[order[i]];
  }
  Tensor out = empty(out_shape, t.dtype(), t.device());
  if (args.numel == 0) return out;
  if (n > kMaxDims) raise<NotImplementedError>("permute: tensors with more than ", kMaxDims, " dims");
  args.ninputs = 1;
  args.inputs[0].data = t.data_ptr();
  args.inputs[0].dtype = t.dtype();
  args.inputs[0].contiguous = std::is_sorted(order.begin(), order.end());
  args.out = out.data_ptr();
  args.out_dtype = t.dtype();
  backend_for(t.device().type).elementwise(BinaryOp::Copy, args);
  return out;
}

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  int64_t n = t.dim();
  if (n == 0) return clone(t);
  Shape order(n);
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[wrap_dim(dim0, n, "transpose")], order[wrap_dim(dim1, n, "transpose")]);
  return permute(t, order);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  require_strided(t, "expand");
  Shape target = shape;
  int64_t offset = static_cast<int64_t>(target.size()) - t.dim();
  if (offset < 0)
    raise<ShapeError>("expand: the number of sizes provided (", target.size(), ") must be greater or equal to the number of dimensions in the tensor (", t.dim(), ")");
  for (int64_t i = 0; i < t.dim(); ++i) {
    int64_t& want = target[i + offset];
    int64_t have = t.sizes()[i];
    if (want == -1) want = have;
    if (have != 1 && have != want)
      raise<ShapeError>("expand: the expanded size of the tensor (", want, ") must match the existing size (", have,
                        ") at non-singleton dimension ", i + offset, ".  Target sizes: ", shape_to_string(shape),
                        ".  Tensor sizes: ", shape_to_string(t.sizes()));
  }
  Tensor out = empty(target, t.dtype(), t.device());
  return copy_(out, t);
}

Tensor view_as_real(const Tensor& t) {
  if (!is_complex(t.dtype()))
    raise<TypeError>("view_as_real: is only supported for complex tensors, but got a tensor of dtype ", to_string(t.dtype()));
  Shape shape = t.sizes();
  shape.push_back(2);
  return make_view(t, shape, t.storage_offset() * 2, to_real_dtype(t.dtype()));
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
  return make_view(t, shape, t.storage_offset() / 2, to_complex_dtype(t.dtype()));
}

}  // namespace descent::native
