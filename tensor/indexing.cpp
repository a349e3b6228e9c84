// index_select and gather (torch.index_select, torch.gather): both reduce to
// a list of source positions (tensor/indexing.h), checked here once.
#include "tensor/indexing.h"

#include <cstring>

#include "autograd/functions/functions.h"
#include "descent/tensor/ops.h"
#include "tensor/native.h"

namespace descent {
namespace native {

namespace {
void require_int64_index(const char* op, const Tensor& index) {
  if (!index.defined()) raise<ValueError>(op, ": 'index' is an undefined tensor");
  if (index.is_sparse() || index.dtype() != kInt64)
    raise<TypeError>(op, ": expected a dense int64 tensor for 'index', but got ",
                     index.is_sparse() ? "a sparse " : "a ", to_string(index.dtype()), " tensor");
}

void require_dense(const char* op, const Tensor& self) {
  if (!self.defined()) raise<ValueError>(op, ": 'input' is an undefined tensor");
  if (self.is_sparse()) raise<NotImplementedError>(op, ": sparse 'input' tensors are not supported");
}

// Row-major strides of a shape.
Shape strides_of(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

void check_position(const char* op, int64_t i, int64_t dim, int64_t size) {
  if (i < 0 || i >= size)
    raise<IndexError>(op, ": index ", i, " is out of bounds for dimension ", dim, " with size ", size);
}

// A CPU copy of t (the data of take/put_add is walked on the host).
Tensor host_copy(const Tensor& t) { return to(t.detach().contiguous(), Device(kCPU), t.dtype(), false); }

template <class T>
T add_values(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) return a || b;
  else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
    return T(static_cast<float>(a) + static_cast<float>(b));
  else return a + b;
}
}  // namespace

IndexMapPtr index_select_map(const Tensor& self, int64_t dim, const Tensor& index) {
  require_dense("index_select", self);
  require_int64_index("index_select", index);
  if (index.dim() > 1)
    raise<ShapeError>("index_select: 'index' must be a vector (0-D or 1-D), but got a ", index.dim(),
                      "-D tensor");
  const Shape& s = self.sizes();
  const int64_t ndim = std::max<int64_t>(self.dim(), 1);
  const int64_t d = wrap_dim(dim, ndim, "index_select");
  const int64_t size = self.dim() == 0 ? 1 : s[d];
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= s[i];
  for (int64_t i = d + 1; i < self.dim(); ++i) inner *= s[i];
  std::vector<int64_t> idx = host_copy(index).to_vector<int64_t>();
  for (int64_t i : idx) check_position("index_select", i, d, size);
  auto k = static_cast<int64_t>(idx.size());
  auto map = std::make_shared<IndexMap>();
  map->source_shape = s;
  map->out_shape = s;
  if (self.dim() == 0) map->out_shape = index.sizes();
  else map->out_shape[d] = k;
  map->positions.resize(static_cast<std::size_t>(outer * k * inner));
  int64_t* p = map->positions.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t r = 0; r < inner; ++r) *p++ = (o * size + idx[j]) * inner + r;
  return map;
}

IndexMapPtr gather_map(const Tensor& self, int64_t dim, const Tensor& index) {
  require_dense("gather", self);
  require_int64_index("gather", index);
  const Shape& s = self.sizes();
  const Shape& is = index.sizes();
  if (index.dim() != self.dim() && index.numel() > 0)
    raise<ShapeError>("gather: 'index' must have as many dimensions as 'input' (", self.dim(), "), but has ",
                      index.dim());
  const int64_t ndim = std::max<int64_t>(self.dim(), 1);
  const int64_t d = wrap_dim(dim, ndim, "gather");
  auto map = std::make_shared<IndexMap>();
  map->source_shape = s;
  map->out_shape = is;
  if (index.numel() == 0) return map;
  for (int64_t e = 0; e < self.dim(); ++e)
    if (e != d && is[e] > s[e])
      raise<ShapeError>("gather: 'index' ", shape_to_string(is), " must be no larger than 'input' ",
                        shape_to_string(s), " in every dimension but dimension ", d, " (dimension ", e,
                        " is larger)");
  std::vector<int64_t> idx = host_copy(index).to_vector<int64_t>();
  const int64_t size = self.dim() == 0 ? 1 : s[d];
  const Shape stride = strides_of(s);
  map->positions.resize(idx.size());
  Shape m(is.size(), 0);  // the multi-index of output element i
  for (std::size_t i = 0; i < idx.size(); ++i) {
    check_position("gather", idx[i], d, size);
    int64_t pos = 0;
    for (std::size_t e = 0; e < m.size(); ++e)
      pos += (static_cast<int64_t>(e) == d ? idx[i] : m[e]) * stride[e];
    map->positions[i] = pos;
    for (std::size_t e = m.size(); e-- > 0;) {
      if (++m[e] < is[e]) break;
      m[e] = 0;
    }
  }
  return map;
}

Tensor take(const Tensor& source, const IndexMap& map) {
  Tensor src = host_copy(source);
  Tensor out = empty(map.out_shape, source.dtype(), Device(kCPU));
  dispatch_dtype(source.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data_ptr<T>();
    T* o = out.data_ptr<T>();
    for (std::size_t i = 0; i < map.positions.size(); ++i) o[i] = in[map.positions[i]];
  });
  return to(out, source.device(), source.dtype(), false);
}

Tensor put_add(const Tensor& values, const IndexMap& map) {
  Tensor v = host_copy(values);
  Tensor out = empty(map.source_shape, values.dtype(), Device(kCPU));
  fill_(out, 0);
  dispatch_dtype(values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = v.data_ptr<T>();
    T* o = out.data_ptr<T>();
    for (std::size_t i = 0; i < map.positions.size(); ++i) {
      T& dst = o[map.positions[i]];
      dst = add_values(dst, in[i]);
    }
  });
  return to(out, values.device(), values.dtype(), false);
}

}  // namespace native

Tensor index_select(const Tensor& self, int64_t dim, const Tensor& index) {
  native::IndexMapPtr map = native::index_select_map(self, dim, index);
  return autograd::record_take(native::take(self, *map), self, map, false);
}

Tensor gather(const Tensor& self, int64_t dim, const Tensor& index) {
  native::IndexMapPtr map = native::gather_map(self, dim, index);
  return autograd::record_take(native::take(self, *map), self, map, true);
}

Tensor Tensor::index_select(int64_t dim, const Tensor& index) const { return descent::index_select(*this, dim, index); }
Tensor Tensor::gather(int64_t dim, const Tensor& index) const { return descent::gather(*this, dim, index); }

}  // namespace descent
