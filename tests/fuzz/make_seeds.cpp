// Writes the fuzzer's seed inputs — one valid checkpoint per feature of the
// format — into the directory given as the only argument.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "descent/optim/checkpoint.h"
#include "descent/tensor/ops.h"
#include "fuzz/checkpoint_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

TensorOptions of(Dtype dtype) {
  TensorOptions o;
  o.dtype = dtype;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  int n = 0;
  auto write = [&](const std::vector<uint8_t>& bytes) {
    std::ofstream out(dir / ("seed-" + std::to_string(n++) + ".dckpt"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  };

  write(serialize(Value()));
  write(serialize(Value::tuple({true, false, int64_t{-7}, -0.0, "s", Value::list({}), Value(Tensor())})));
  write(
      serialize(Dict{{"a", Dict{{int64_t{1}, Value::list({Value::tuple({1, 2.5})})}}}, {int64_t{-3}, "x"}}));
  for (Dtype d : {kBool, kInt64, kFloat16, kBFloat16, kFloat32, kFloat64, kComplex64, kComplex128})
    write(serialize(Value::list({ones({2, 2}, of(d)), zeros({}, of(d))})));
  Tensor base = arange(8, of(kFloat32));
  write(serialize(Value::list({base, base.narrow(0, 2, 3), base})));
  Tensor c = ones({2}, of(kComplex64));
  write(serialize(Value::list({c, view_as_real(c)})));
  Tensor indices = tensor<int64_t>({1, 0, 1, 2, 0, 2}, {2, 3});
  Tensor sparse = sparse_coo_tensor(indices, ones({3, 2}), {2, 3, 2}, false);
  write(serialize(Value::list({sparse, sparse.coalesce()})));
  write(serialize(Value(ones({3}, of(kFloat64)).requires_grad_(true))));
  Tensor w = ones({2, 2});
  write(serialize(Dict{{"state", Dict{{int64_t{0}, Dict{{"step", scalar_tensor(1.0)}, {"exp_avg", w}}}}},
                       {"param_groups", Value::list({Dict{{"lr", 0.001},
                                                          {"betas", Value::tuple({0.9, 0.999})},
                                                          {"params", Value::list({int64_t{0}})}}})}}));
  File cuda;
  cuda.storages = {storage_rec(1, 4, 8, 0)};
  cuda.tensors = {strided_rec(4, {2}, 0, 0)};
  cuda.tree = tensor_ref(0);
  cuda.blobs = {std::vector<uint8_t>(8)};
  write(cuda.bytes());
  return 0;
}
