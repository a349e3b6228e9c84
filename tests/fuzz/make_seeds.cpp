// Writes the fuzzer's seed inputs — one valid checkpoint per feature of the
// format, optimizer state dicts as Adam and SGD write them, and crafted state
// dicts that load_state_dict must refuse — into the directory given as the
// only argument.
#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "descent/optim/adam.h"
#include "descent/optim/checkpoint.h"
#include "descent/optim/sgd.h"
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

// The state dict of `opt` after two steps on its (one) param.
Dict stepped(optim::Optimizer& opt) {
  for (int i = 0; i < 2; ++i) {
    for (const Tensor& p : opt.param_groups()[0].params) p.set_grad(full_like(p, 0.25));
    opt.step();
  }
  return opt.state_dict();
}

Dict& state_of(Dict& state_dict, int64_t id) { return state_dict.at("state").to_dict().at(id).to_dict(); }

Le str_key(const std::string& s) { return Le().u8(0x05).u64(s.size()).raw(s); }

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

  // State dicts as the optimizers write them, and edits load_state_dict must
  // refuse with a descent::Error (fuzz/optimizer_feed.h feeds them in).
  Tensor p = ones({2, 2}).requires_grad_(true);
  optim::Adam fused_adam({p}, {.amsgrad = true, .fused = true});
  const Dict adam = stepped(fused_adam);
  write(serialize(adam));
  Tensor q = ones({3}, of(kFloat64)).requires_grad_(true);
  optim::SGD sgd({q}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  write(serialize(stepped(sgd)));
  auto edited = [&](auto edit) {
    Dict sd = adam;
    edit(sd);
    write(serialize(sd));
  };
  edited([](Dict& sd) { state_of(sd, 0).set("exp_avg", Tensor()); });
  edited([](Dict& sd) { state_of(sd, 0).set("step", Tensor()); });
  edited([](Dict& sd) { state_of(sd, 0).set("step", scalar_tensor(-1.0)); });
  // exp_avg_sq first: it shapes the param, and exp_avg then does not match it.
  edited([](Dict& sd) {
    Dict& s = state_of(sd, 0);
    Dict reordered{{"step", s.at("step")}, {"exp_avg_sq", s.at("exp_avg_sq")}, {"exp_avg", ones({3})}};
    s = reordered;
  });
  edited([](Dict& sd) { state_of(sd, 0).set("exp_avg", sparse_coo_tensor(empty({0, 1}, of(kInt64)), ones({1, 2, 2}), {2, 2})); });
  // Duplicate keys cannot be built as a Dict: the tree is written by hand,
  // {"state": {}, "state": {}, "param_groups": [{"lr": 0.001, "params": [0]}]}.
  File duplicate;
  duplicate.tree = Le().u8(0x0A).u64(3).add(str_key("state")).u8(0x0A).u64(0).add(str_key("state")).u8(0x0A).u64(0);
  duplicate.tree.add(str_key("param_groups")).u8(0x08).u64(1).u8(0x0A).u64(2).add(str_key("lr")).u8(0x04).u64(
      std::bit_cast<uint64_t>(0.001));
  duplicate.tree.add(str_key("params")).u8(0x08).u64(1).u8(0x03).u64(0);
  write(duplicate.bytes());
  // A sparse tensor without sparse dims claiming two entries (the reader allows one).
  File no_sparse_dims;
  no_sparse_dims.storages = {storage_rec(0, 8, 0), storage_rec(0, 4, 0)};
  no_sparse_dims.tensors = {strided_rec(1, {0, 2}, 0, 0), strided_rec(4, {2, 0}, 1, 0), sparse_rec(4, {0}, 0, 0, 1)};
  no_sparse_dims.tree = tensor_ref(2);
  no_sparse_dims.blobs = {{}, {}};
  write(no_sparse_dims.bytes());
  return 0;
}
