#pragma once
// Internal: the pickle subset of torch.save's data.pkl — what
// torch.load(weights_only=True) accepts for descent's Value types. The
// reader executes nothing: globals are looked up in a fixed allowlist and
// turned into descent objects; everything else is refused.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/optim/value.h"

namespace descent::pytorch {

// torch.FloatStorage and friends for descent's dtypes ("FloatStorage").
const char* storage_type_name(Dtype dtype);
std::optional<Dtype> storage_type_dtype(std::string_view name);

// A storage a persistent id names: ('storage', torch.<T>Storage, key, location, numel).
struct StorageRef {
  std::string key;
  Dtype dtype = kFloat32;
  std::string location;
  int64_t numel = 0;
};

// The arguments of torch._utils._rebuild_tensor_v2, already type-checked;
// at is the pickle byte of the call, for messages.
struct TensorArgs {
  const StorageRef* storage;
  int64_t offset;
  Shape size, stride;
  bool requires_grad;
  uint64_t at;
};

struct UnpickleContext {
  const char* op;
  const std::string& source;
  // Builds (or refuses, with a descent::Error) the tensor a rebuild call describes.
  std::function<Tensor(const TensorArgs&)> rebuild_tensor;
  // Bound on the work of turning the pickle's object graph into a Value tree
  // (objects visited plus string bytes copied): shared objects are copied
  // into every place that refers to them, which a crafted file could make
  // exponential.
  uint64_t budget;
};

// Reads a whole pickle (protocol 2 as torch.save writes it; the framing and
// short-string opcodes of protocols 3-4 are accepted too). Throws ValueError
// "<op>: <source>: data.pkl byte N: ..." for malformed input or a forbidden
// global, NotImplementedError for a torch feature descent lacks.
Value unpickle(std::span<const uint8_t> pickle, const UnpickleContext& context);

// How the writer names a tensor's data: the storage record key, the storage's
// element count and the tensor's offset into it (in elements), the device.
struct PickledStorage {
  std::string key;
  int64_t numel;
  int64_t offset;
  std::string location;
};

// Writes value as a protocol-2 pickle that torch.load(weights_only=True)
// reads. Each distinct tensor is pickled once (later uses refer to it, as
// Python's pickler does); storage_for places its data. Throws ValueError for
// what PyTorch could not read back (a string that is not UTF-8, nesting
// deeper than 64) and NotImplementedError for a sparse tensor.
std::vector<uint8_t> pickle(const Value& value, const std::function<PickledStorage(const Tensor&)>& storage_for);

}  // namespace descent::pytorch
