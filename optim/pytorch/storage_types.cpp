// torch.<T>Storage names of descent's dtypes: in a pickle they stand for the
// element type of a persistent storage.
#include <array>
#include <utility>

#include "optim/pytorch/pickle.h"

namespace descent::pytorch {

namespace {
constexpr std::array<std::pair<Dtype, const char*>, 8> kStorageTypes = {{
    {kBool, "BoolStorage"},
    {kInt64, "LongStorage"},
    {kFloat16, "HalfStorage"},
    {kBFloat16, "BFloat16Storage"},
    {kFloat32, "FloatStorage"},
    {kFloat64, "DoubleStorage"},
    {kComplex64, "ComplexFloatStorage"},
    {kComplex128, "ComplexDoubleStorage"},
}};
}  // namespace

const char* storage_type_name(Dtype dtype) {
  for (const auto& [d, name] : kStorageTypes)
    if (d == dtype) return name;
  raise<TypeError>("save_pytorch: dtype ", dtype, " has no torch storage type");
}

std::optional<Dtype> storage_type_dtype(std::string_view name) {
  for (const auto& [d, n] : kStorageTypes)
    if (name == n) return d;
  return std::nullopt;
}

}  // namespace descent::pytorch
