#pragma once
// Internal: index_select and gather as "take": out[i] = source[positions[i]]
// over flat (row-major) positions. Their gradient is the matching "put_add":
// grad_source[positions[i]] += grad[i], whose own gradient is a take again.
// Positions are computed and bounds-checked once, on the host; the data moves
// through the host too (a CPU loop; on CUDA a round trip).
#include <memory>
#include <vector>

#include "descent/tensor/tensor.h"

namespace descent::native {

struct IndexMap {
  Shape source_shape;
  Shape out_shape;
  std::vector<int64_t> positions;  // one per output element, into the flat source
};
using IndexMapPtr = std::shared_ptr<const IndexMap>;

IndexMapPtr index_select_map(const Tensor& self, int64_t dim, const Tensor& index);
IndexMapPtr gather_map(const Tensor& self, int64_t dim, const Tensor& index);

// out (map.out_shape) = source[positions]; source has map.source_shape.
Tensor take(const Tensor& source, const IndexMap& map);
// zeros(map.source_shape) with values[i] added at positions[i], in order.
Tensor put_add(const Tensor& values, const IndexMap& map);

}  // namespace descent::native
