// PyTorch checkpoints (docs/pytorch-format.md): every fixture written by
// PyTorch 1.13 and 2.x (scripts/fixtures/pytorch_checkpoints.py) loads to
// exactly the values PyTorch loads; a PyTorch Adam checkpoint continues
// training in descent to PyTorch's values; PyTorch optimizer state dicts
// load into descent's optimizers; save_pytorch round trips. The error paths
// are in test_pytorch_format_errors.cpp.
#include <doctest/doctest.h>
#include <unistd.h>

#include <map>

#include "descent/optim/adam.h"
#include "descent/optim/registry.h"
#include "descent/tensor/ops.h"
#include "pytorch_format_testing.h"

using namespace descent;
using namespace descent::testing;
namespace fs = std::filesystem;

namespace {

const char* const kVersions[] = {"torch1", "torch2"};

std::vector<fs::path> expected_files(const std::string& version) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(pytorch_fixture(version)))
    if (entry.path().extension() == ".expected") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

// saved, with each number or tensor converted to the dtype of its counterpart in held.
Value cast_like(const Value& saved, const Value& held) {
  if (held.is_tensor() && saved.is_number()) {
    TensorOptions o;
    o.dtype = held.to_tensor().dtype();
    return full({}, saved.to_double(), o);
  }
  if (held.is_tensor() && saved.is_tensor()) return saved.to_tensor().to(held.to_tensor().dtype());
  if (held.is_dict() && saved.is_dict()) {
    Dict out;
    for (const auto& [k, v] : saved.to_dict()) out.set(k, held.to_dict().contains(k) ? cast_like(v, held.at(k)) : v);
    return out;
  }
  return saved;
}

fs::path pt_of(fs::path expected) { return expected.replace_extension(".pt"); }

}  // namespace

TEST_CASE("load_pytorch: every PyTorch-written fixture loads to exactly what torch.load returns") {
  for (const char* version : kVersions) {
    const std::vector<fs::path> files = expected_files(version);
    CHECK(files.size() >= 14);  // 12 optimizers (1.13) + module, tensors, ...
    for (const fs::path& expected : files) {
      CAPTURE(expected.string());
      CHECK(describe(load_pytorch(pt_of(expected))) + "\n" == read_text(expected));
    }
  }
}

TEST_CASE("load_pytorch: contiguous views share memory, strided views are copied, Parameters require grad") {
  for (const char* version : kVersions) {
    CAPTURE(std::string(version));
    const Dict t = load_pytorch(pytorch_fixture(std::string(version) + "/tensors.pt")).to_dict();
    Tensor a = t.at("shared_a").to_tensor(), b = t.at("shared_b").to_tensor();
    CHECK(a.storage() == b.storage());
    CHECK(a.storage_offset() == 0);
    CHECK(b.storage_offset() == 2);
    a.fill_(7.0);
    CHECK(b[0].item<double>() == 7.0);  // element 2 of the shared storage
    // x[2] of a 3x4 tensor: a contiguous row at offset 8, sharing x's storage with the transposed view's source.
    CHECK(t.at("offset_row").to_tensor().storage_offset() == 8);
    CHECK(t.at("transposed").to_tensor().sizes() == Shape{4, 3});
    CHECK(t.at("transposed").to_tensor().storage_offset() == 0);
    CHECK(t.at("param").to_tensor().requires_grad());
    CHECK(!t.at("float32").to_tensor().requires_grad());
  }
}

TEST_CASE("load_pytorch: a PyTorch Adam checkpoint continues training in descent to PyTorch's values") {
  for (const char* version : kVersions) {
    CAPTURE(std::string(version));
    const Dict ckpt = load_pytorch(pytorch_fixture(std::string(version) + "/adam_resume.pt")).to_dict();
    std::vector<Tensor> params;
    for (const Value& p : ckpt.at("params").to_list().items) params.push_back(p.to_tensor().clone().requires_grad_());
    optim::Adam opt(params);  // options come from the state dict
    opt.load_state_dict(ckpt.at("optim").to_dict());
    CHECK(opt.param_groups()[0].options.at("lr").to_double() == 1e-2);
    const auto& grads = ckpt.at("grads").to_list().items;
    const auto& after = ckpt.at("after").to_list().items;
    REQUIRE(grads.size() == 3);
    for (std::size_t k = 0; k < grads.size(); ++k) {
      for (std::size_t i = 0; i < params.size(); ++i) params[i].set_grad(grads[k].to_list().items[i].to_tensor());
      opt.step();
      for (std::size_t i = 0; i < params.size(); ++i)  // bit for bit
        CHECK(describe(params[i].detach()) == describe(after[k].to_list().items[i].to_tensor()));
    }
  }
}

TEST_CASE("load_pytorch: every PyTorch optimizer state dict loads into descent's optimizer and steps") {
  const std::map<std::string, std::string> classes{
      {"sgd", "SGD"},         {"adam", "Adam"},   {"adamw", "AdamW"},     {"adagrad", "Adagrad"},
      {"adadelta", "Adadelta"}, {"adamax", "Adamax"}, {"asgd", "ASGD"},   {"nadam", "NAdam"},
      {"radam", "RAdam"},     {"rmsprop", "RMSprop"}, {"rprop", "Rprop"}, {"lbfgs", "LBFGS"},
      {"adafactor", "Adafactor"}, {"muon", "Muon"}};
  int loaded = 0;
  for (const char* version : kVersions)
    for (const auto& [file, cls] : classes) {
      const fs::path path = pytorch_fixture(std::string(version) + "/optim_" + file + ".pt");
      if (!fs::exists(path)) continue;  // Adafactor and Muon are newer than PyTorch 1.13
      CAPTURE(path.string());
      const Dict sd = load_pytorch(path).to_dict();
      TensorOptions f64;
      f64.dtype = kFloat64;
      std::vector<Tensor> params{full({2, 3}, 0.25, f64).requires_grad_()};
      if (cls != "Muon") params.push_back(full({3}, -0.5, f64).requires_grad_());
      auto opt = optim::make_optimizer(cls, params);
      opt->load_state_dict(sd);
      const Dict again = opt->state_dict();
      // The state descent holds is what PyTorch saved, bit for bit, after the casts load_state_dict makes
      // in both libraries (state follows its param's dtype; 1.13's int steps become tensors).
      CHECK(describe(again.at("state")) == describe(cast_like(sd.at("state"), again.at("state"))));
      auto closure = [&] {
        opt->zero_grad();
        Tensor loss = zeros({}, f64);
        for (const Tensor& p : params) loss = loss + (p * p).sum();
        loss.backward();
        return loss;
      };
      opt->step(closure);
      ++loaded;
    }
  CHECK(loaded == 12 + 14);
}

TEST_CASE("save_pytorch: round trips are bit-exact and keep tensor identity and shared memory") {
  for (const char* version : kVersions)
    for (const fs::path& expected : expected_files(version)) {
      CAPTURE(expected.string());
      const Value v = load_pytorch(pt_of(expected));
      CHECK(describe(deserialize_pytorch(serialize_pytorch(v))) + "\n" == read_text(expected));
    }
  TensorOptions f64;
  f64.dtype = kFloat64;
  const Tensor base = arange(0, 10, 1, f64);
  const Tensor head = base.narrow(0, 2, 3), tail = base.narrow(0, 6, 4);
  const Tensor empty = zeros({0, 2});
  Dict d{{"head", head}, {"tail", tail}, {"again", head}, {"empty", empty}, {"none", Tensor()},
         {"nested", Value::list({Value::tuple({1, 2.5}), Dict{{7, "x"}}})}};
  const Dict back = deserialize_pytorch(serialize_pytorch(d)).to_dict();
  CHECK(back.at("head").to_tensor().is_same(back.at("again").to_tensor()));
  CHECK(back.at("head").to_tensor().storage() == back.at("tail").to_tensor().storage());
  // Only the span the views cover is written: elements 2..9 of base.
  CHECK(back.at("head").to_tensor().storage()->nbytes == 8 * 8);
  CHECK(back.at("tail").to_tensor().to_vector<double>() == std::vector<double>{6, 7, 8, 9});
  CHECK(back.at("empty").to_tensor().sizes() == Shape{0, 2});
  CHECK(back.at("none").is_none());  // an undefined tensor is Python's None
  CHECK(describe(back.at("nested")) == describe(d.at("nested")));
}

TEST_CASE("save_pytorch / load_pytorch: files, replaced atomically") {
  const fs::path dir = fs::temp_directory_path() / ("descent-pt-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const Value v = load_pytorch(pytorch_fixture("torch2/module.pt"));
  save_pytorch(v, dir / "m.pt");
  save_pytorch(v, dir / "m.pt");
  CHECK(describe(load_pytorch(dir / "m.pt")) == describe(v));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  CHECK_THROWS_WITH_AS(load_pytorch(dir / "missing.pt"), doctest::Contains("load_pytorch: cannot open checkpoint"),
                       RuntimeError);
  fs::remove_all(dir);
}

TEST_CASE("load_pytorch: ZIP64 records and big-endian files") {
  const Value v = load_pytorch(pytorch_fixture("torch2/tensors.pt"));
  const std::vector<uint8_t> bytes = serialize_pytorch(v);
  // The same records with ZIP64 extra fields and end records forced.
  pytorch::ZipReader zip(bytes, "test", "buffer");
  std::vector<std::pair<std::string, std::vector<uint8_t>>> records;
  for (const char* name : {"data.pkl", "byteorder", "version"}) {
    const auto r = zip.find(std::string("archive/") + name);
    records.emplace_back(name, std::vector<uint8_t>(r->begin(), r->end()));
  }
  for (int k = 0; zip.find("archive/data/" + std::to_string(k)); ++k) {
    const auto r = zip.find("archive/data/" + std::to_string(k));
    records.emplace_back("data/" + std::to_string(k), std::vector<uint8_t>(r->begin(), r->end()));
  }
  CHECK(describe(deserialize_pytorch(archive(records, true))) == describe(v));

  // A big-endian writer's float64 [1.5, -2]: every element byte-reversed.
  std::vector<uint8_t> data;
  for (double x : {1.5, -2.0}) {
    const uint64_t bits = std::bit_cast<uint64_t>(x);
    for (int i = 7; i >= 0; --i) data.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  }
  const std::string pkl = tensor_pickle("DoubleStorage", 2, 0, {2}, {1});
  const std::vector<uint8_t> big = archive({{"data.pkl", text(pkl)}, {"byteorder", text("big")}, {"data/0", data},
                                            {"version", text("3\n")}});
  CHECK(deserialize_pytorch(big).to_tensor().to_vector<double>() == std::vector<double>{1.5, -2.0});
}
