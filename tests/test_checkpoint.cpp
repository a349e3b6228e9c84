// Checkpoint files (docs/checkpoint-format.md): round trips of every value
// kind and dtype, bit exactness, sharing, devices, atomic replacement, every
// error path of the hostile-input reader, the fuzz corpus and a seeded
// random-corruption sweep.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <unordered_set>

#include "descent/autograd/nn/linear.h"
#include "descent/optim/checkpoint.h"
#include "descent/tensor/ops.h"
#include "fuzz/checkpoint_testing.h"
#include "fuzz/optimizer_feed.h"

using namespace descent;
namespace fs = std::filesystem;
using namespace descent::testing;

namespace {

TensorOptions of(Dtype dtype) {
  TensorOptions o;
  o.dtype = dtype;
  return o;
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  Tensor host = t.cpu();
  std::vector<uint8_t> out(static_cast<std::size_t>(host.nbytes()));
  if (!out.empty()) std::memcpy(out.data(), host.data_ptr(), out.size());
  return out;
}

Tensor from_bytes(Dtype dtype, const Shape& shape, const std::vector<uint8_t>& bytes) {
  Tensor t = empty(shape, of(dtype));
  REQUIRE(static_cast<std::size_t>(t.nbytes()) == bytes.size());
  if (!bytes.empty()) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, std::size_t n, bool bools) {
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(bools ? rng() % 2 : rng());
  return b;
}

Value round_trip(const Value& v) { return deserialize(serialize(v)); }

// A temporary directory removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("descent-ckpt-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    return names;
  }
};

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<uint8_t> le_floats(std::initializer_list<float> xs) {
  Le l;
  for (float x : xs) l.put(std::bit_cast<uint32_t>(x), 4);
  return l.b;
}

// One float32 tensor [1, 2]: header 24, storage table 32..48, tensor record 56..84, tree 84..93, blob at 128.
File one_tensor_file() {
  File f;
  f.storages = {storage_rec(0, 4, 8)};
  f.tensors = {strided_rec(4, {2}, 0, 0)};
  f.tree = tensor_ref(0);
  f.blobs = {le_floats({1.0f, 2.0f})};
  return f;
}

// Sparse float32 [4] with entries at 0 and 2: indices are tensor 0, values tensor 1.
File sparse_file(std::vector<int64_t> idx = {0, 2}, uint8_t coalesced = 1) {
  Le indices;
  for (int64_t i : idx) indices.u64(static_cast<uint64_t>(i));
  File f;
  f.storages = {storage_rec(0, 8, 16), storage_rec(0, 4, 8)};
  f.tensors = {strided_rec(1, {1, 2}, 0, 0), strided_rec(4, {2}, 1, 0), sparse_rec(4, {4}, coalesced, 0, 1)};
  f.tree = tensor_ref(2);
  f.blobs = {indices.b, le_floats({1.0f, 2.0f})};
  return f;
}

File tree_file(const Le& tree) {
  File f;
  f.tree = tree;
  return f;
}

std::vector<uint8_t> patched(std::vector<uint8_t> b, std::size_t at, uint8_t value) {
  b[at] = value;
  fix_trailer(b);
  return b;
}

Le nested_lists(int depth) {
  Le l;
  for (int i = 0; i < depth; ++i) l.u8(0x08).u64(1);
  return l.u8(0x00);
}

}  // namespace

TEST_SUITE("checkpoint") {
  TEST_CASE("the writer produces exactly the documented bytes") {
    CHECK(serialize(Value(tensor({1.0f, 2.0f}))) == one_tensor_file().bytes());
    Tensor s = sparse_coo_tensor(tensor<int64_t>({0, 2}).view({1, 2}), tensor({1.0f, 2.0f}), {4}, true);
    CHECK(serialize(Value(s)) == sparse_file().bytes());
    CHECK(serialize(Value()) == tree_file(Le().u8(0x00)).bytes());
    // The trailer's checksum is zlib's CRC-32, checked against an independent bitwise implementation.
    const std::string check = "123456789";
    CHECK(descent::testing::reference_crc32(reinterpret_cast<const uint8_t*>(check.data()), 9) ==
          0xCBF43926u);
    std::vector<uint8_t> b = serialize(Value(tensor({1.0, 2.0, 3.0})));
    const uint32_t stored =
        b[b.size() - 4] | b[b.size() - 3] << 8 | b[b.size() - 2] << 16 | uint32_t{b[b.size() - 1]} << 24;
    CHECK(stored == descent::testing::reference_crc32(b.data(), b.size() - 4));
  }

  TEST_CASE("every value kind round-trips") {
    const double nan_payload = std::bit_cast<double>(uint64_t{0x7ff0000000000123});
    Dict inner{{"z", 1}, {"a", 2}, {int64_t{-5}, Value::tuple({})}};
    Value v = Dict{
        {"none", Value()},
        {"t", true},
        {"f", false},
        {"ints",
         Value::list({int64_t{0}, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()})},
        {"floats", Value::tuple({-0.0, 5e-324, std::numeric_limits<double>::infinity(), nan_payload, 0.1})},
        {"str", std::string("caf\xc3\xa9\0tail", 10)},
        {"empty", ""},
        {int64_t{7}, Value(inner)},
        {"one_tuple", Value::tuple({1})},
        {"empty_list", Value::list({})},
        {"undefined", Value(Tensor())}};
    const Value r = round_trip(v);
    REQUIRE(r.is_dict());
    CHECK(r.to_dict().keys() == v.to_dict().keys());  // insertion order kept
    CHECK(r.at("none").is_none());
    CHECK(r.at("t").to_bool());
    CHECK_FALSE(r.at("f").to_bool());
    CHECK(r.at("ints") == v.at("ints"));
    const List& floats = r.at("floats").to_list();
    CHECK(floats.is_tuple);
    for (std::size_t i = 0; i < floats.items.size(); ++i)
      CHECK(std::bit_cast<uint64_t>(floats.items[i].to_double()) ==
            std::bit_cast<uint64_t>(v.at("floats").to_list().items[i].to_double()));
    CHECK(r.at("str").to_string_value() == v.at("str").to_string_value());
    CHECK(r.at("str").to_string_value().size() == 10);
    CHECK(r.at(int64_t{7}) == Value(inner));
    CHECK(r.at(int64_t{7}).to_dict().keys() == inner.keys());
    CHECK(r.at("one_tuple").to_list().is_tuple);
    CHECK_FALSE(r.at("empty_list").to_list().is_tuple);
    CHECK_FALSE(r.at("undefined").to_tensor().defined());
  }

  TEST_CASE("tensors of every dtype round-trip bit for bit") {
    std::mt19937_64 rng(1234);
    for (Dtype dtype : {kBool, kInt64, kFloat16, kBFloat16, kFloat32, kFloat64, kComplex64, kComplex128}) {
      CAPTURE(to_string(dtype));
      for (const Shape& shape : {Shape{2, 3}, Shape{}, Shape{0, 4}, Shape{1, 1, 5}}) {
        const std::size_t n = static_cast<std::size_t>(numel_of(shape)) * element_size(dtype);
        Tensor t = from_bytes(dtype, shape, random_bytes(rng, n, dtype == kBool));
        Tensor r = round_trip(Value(t)).to_tensor();
        CHECK(r.dtype() == dtype);
        CHECK(r.sizes() == shape);
        CHECK(r.device() == Device(kCPU));
        CHECK(bytes_of(r) == bytes_of(t));
      }
    }
    // The special patterns spelled out: signalling NaN with payload, -0.0, the smallest subnormal.
    Tensor f = from_bytes(kFloat32, {3}, Le().put(0x7fa00001, 4).put(0x80000000, 4).put(1, 4).b);
    CHECK(bytes_of(round_trip(Value(f)).to_tensor()) == bytes_of(f));
    Tensor h = from_bytes(kFloat16, {3}, Le().put(0x7d01, 2).put(0x8000, 2).put(1, 2).b);
    CHECK(bytes_of(round_trip(Value(h)).to_tensor()) == bytes_of(h));
  }

  TEST_CASE("requires_grad is kept and loaded tensors are leaves") {
    Tensor p = randn({3}, of(kFloat64)).requires_grad_(true);
    Tensor q = p * 2.0;  // not a leaf
    const Value r = round_trip(Value::list({p, q, randn({2})}));
    CHECK(r[0].to_tensor().requires_grad());
    CHECK(r[0].to_tensor().is_leaf());
    CHECK(r[1].to_tensor().requires_grad());
    CHECK(r[1].to_tensor().is_leaf());
    CHECK_FALSE(r[2].to_tensor().requires_grad());
    CHECK(equal(r[1].to_tensor().detach(), q.detach()));
  }

  TEST_CASE("a tensor appearing twice loads as one tensor (tied weights)") {
    Tensor w = randn({4, 3});
    Dict model{{"embed.weight", w}, {"head.weight", w}, {"bias", randn({4})}};
    Dict r = round_trip(Value(model)).to_dict();
    CHECK(r.at("embed.weight").to_tensor().is_same(r.at("head.weight").to_tensor()));
    CHECK_FALSE(r.at("embed.weight").to_tensor().is_same(r.at("bias").to_tensor()));
    CHECK(serialize(Dict{{"a", w}, {"b", w}}).size() <
          serialize(Dict{{"a", w.clone()}, {"b", w.clone()}}).size());
  }

  TEST_CASE("views load sharing memory, and only the viewed bytes are written") {
    Tensor a = arange(12, of(kFloat32));
    Tensor b = a.narrow(0, 4, 4);
    Tensor c = complex(randn({3}), randn({3}));
    Tensor c_real = view_as_real(c);
    const Value r = round_trip(Value::list({a, b, c, c_real}));
    Tensor ra = r[0].to_tensor(), rb = r[1].to_tensor();
    CHECK(ra.storage() == rb.storage());
    CHECK(equal(rb, b));
    rb.fill_(-1.0);
    CHECK(ra.to_vector<float>()[4] == -1.0f);
    CHECK(ra.to_vector<float>()[3] == 3.0f);
    CHECK(r[2].to_tensor().storage() == r[3].to_tensor().storage());
    CHECK(bytes_of(r[3].to_tensor()) == bytes_of(c_real));

    Tensor big = zeros({1 << 16});
    CHECK(serialize(Value(big.narrow(0, 1001, 3))).size() < 256);
    Tensor x = big.narrow(0, 1001, 3);
    x.fill_(5.0);
    CHECK(equal(round_trip(Value(x)).to_tensor(), x));
  }

  TEST_CASE("sparse COO tensors round-trip with their coalesced flag") {
    Tensor indices = tensor<int64_t>({2, 0, 2, 1, 0, 1}, {2, 3});
    Tensor values = randn({3, 2}, of(kFloat64));
    Tensor s = sparse_coo_tensor(indices, values, {3, 2, 2}, false);
    Tensor c = s.coalesce();
    Tensor empty_sparse = sparse_coo_tensor(zeros({1, 0}, of(kInt64)), zeros({0, 1}), {5, 1});
    const Value r = round_trip(Value::list({s, c, empty_sparse, s}));
    const std::vector<Tensor> saved{s, c, empty_sparse};
    for (std::size_t i = 0; i < saved.size(); ++i) {
      const Tensor& want = saved[i];
      const Tensor& got = r[i].to_tensor();
      CAPTURE(i);
      CHECK(got.is_sparse());
      CHECK(got.sizes() == want.sizes());
      CHECK(got.is_coalesced() == want.is_coalesced());
      CHECK(bytes_of(got._indices()) == bytes_of(want._indices()));
      CHECK(bytes_of(got._values()) == bytes_of(want._values()));
    }
    CHECK(r[0].to_tensor().is_same(r[3].to_tensor()));
  }

  TEST_CASE("an optimizer-style state dict round-trips equal") {
    Dict state{{int64_t{0}, Dict{{"step", scalar_tensor(3.0, of(kFloat32))},
                                 {"exp_avg", randn({2, 3})},
                                 {"exp_avg_sq", rand({2, 3})}}},
               {int64_t{1}, Dict{{"step", scalar_tensor(3.0, of(kFloat32))},
                                 {"exp_avg", randn({2})},
                                 {"exp_avg_sq", rand({2})}}}};
    Dict group{{"lr", 0.001},
               {"betas", Value::tuple({0.9, 0.999})},
               {"eps", 1e-08},
               {"weight_decay", 0},
               {"amsgrad", false},
               {"foreach", Value()},
               {"params", Value::list({int64_t{0}, int64_t{1}})},
               {"param_names", Value::list({"0.weight", "0.bias"})}};
    Value sd = Dict{{"state", state}, {"param_groups", Value::list({group})}};
    CHECK(round_trip(sd) == sd);
  }

  TEST_CASE("a module's state dict round-trips through to_value and to_named_tensors") {
    nn::Linear a(3, 2), b(3, 2);
    const Value saved = round_trip(to_value(a.state_dict()));
    CHECK(saved.to_dict().keys() == std::vector<Key>{"weight", "bias"});
    b.load_state_dict(to_named_tensors(saved));
    CHECK(bytes_of(b.weight) == bytes_of(a.weight));
    CHECK(bytes_of(b.bias) == bytes_of(a.bias));
    CHECK_THROWS_WITH_AS(to_named_tensors(Dict{{int64_t{1}, randn({1})}}),
                         doctest::Contains("to_named_tensors: key 1 is not a string"), TypeError);
    CHECK_THROWS_WITH_AS(to_named_tensors(Dict{{"w", 1}}),
                         doctest::Contains("to_named_tensors: the value of 'w' is a int, not a Tensor"),
                         TypeError);
    CHECK_THROWS_WITH_AS(to_named_tensors(Value::list({})),
                         doctest::Contains("expected a value of type dict"), TypeError);
  }

  TEST_CASE("map_location and saved devices") {
    Value v = Value::list({randn({3}), tensor<int64_t>({1, 2})});
    const Value r = deserialize(serialize(v), Device(kCPU));
    CHECK(r == v);
    // A checkpoint saved from cuda:0 (the storage record's device byte is at 32).
    File f = one_tensor_file();
    f.storages = {storage_rec(1, 4, 8, 0)};
    const std::vector<uint8_t> cuda_file = f.bytes();
    Tensor onto_cpu = deserialize(cuda_file, Device(kCPU)).to_tensor();
    CHECK(onto_cpu.device() == Device(kCPU));
    CHECK(onto_cpu.to_vector<float>() == std::vector<float>{1.0f, 2.0f});
    if (cuda::is_available()) {
      CHECK(deserialize(cuda_file).to_tensor().device() == Device(kCUDA, 0));
      Tensor g = randn({5}).cuda();
      Tensor back = round_trip(Value(g)).to_tensor();
      CHECK(back.device() == g.device());
      CHECK(bytes_of(back) == bytes_of(g));
      CHECK(deserialize(serialize(Value(g)), Device(kCPU)).to_tensor().is_cpu());
    } else {
      CHECK_THROWS_WITH_AS(
          deserialize(cuda_file),
          doctest::Contains("storage 0 (record at byte 32) was saved on cuda:0, which is not available"),
          DeviceError);
      CHECK_THROWS_WITH_AS(deserialize(cuda_file), doctest::Contains("pass map_location"), DeviceError);
    }
  }

  TEST_CASE("writer limits") {
    Value deep = Value();
    for (int i = 0; i < 65; ++i) deep = Value::list({deep});
    CHECK_THROWS_WITH_AS(serialize(deep),
                         doctest::Contains("serialize: the value nests lists, tuples and dicts 65 levels "
                                           "deep (the checkpoint format allows at most 64)"),
                         ValueError);
    Value ok = Value();
    for (int i = 0; i < 64; ++i) ok = Value::list({ok});
    CHECK(round_trip(ok) == ok);
  }

  TEST_CASE("save and load files, replacing the old file atomically") {
    TempDir dir;
    const fs::path path = dir.path / "adam.dckpt";
    Value first = Dict{{"w", randn({4})}, {"step", 1}};
    save(first, path);
    CHECK(load(path) == first);
    CHECK(read_file(path) == serialize(first));
    Value second = Dict{{"w", randn({8})}, {"step", 2}};
    save(second, path);
    CHECK(load(path) == second);
    CHECK(dir.files() == std::vector<std::string>{"adam.dckpt"});
    const std::vector<uint8_t> old = read_file(path);

    SUBCASE("a failing encode leaves the old file and no temporary file") {
      Value deep = Value();
      for (int i = 0; i < 70; ++i) deep = Value::list({deep});
      CHECK_THROWS_AS(save(deep, path), ValueError);
    }
    SUBCASE("a write failing midway leaves the old file and no temporary file") {
      // The file-size limit makes write() fail with EFBIG part way through the blob.
      std::signal(SIGXFSZ, SIG_IGN);
      rlimit saved{};
      REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
      rlimit small = saved;
      small.rlim_cur = 1 << 16;
      REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
      CHECK_THROWS_WITH_AS(save(Value(zeros({1 << 18})), path),
                           doctest::Contains("save: write failed on the temporary file"), RuntimeError);
      ::setrlimit(RLIMIT_FSIZE, &saved);
      std::signal(SIGXFSZ, SIG_DFL);
    }
    SUBCASE("a missing directory") {
      CHECK_THROWS_WITH_AS(
          save(first, dir.path / "missing" / "x.dckpt"),
          doctest::Contains(
              ("save: cannot create a temporary file in '" + (dir.path / "missing").string()).c_str()),
          RuntimeError);
    }
    SUBCASE("a rename that fails (the target is a directory)") {
      fs::create_directory(dir.path / "sub");
      CHECK_THROWS_WITH_AS(save(first, dir.path / "sub"),
                           doctest::Contains("save: cannot rename the temporary file"), RuntimeError);
      fs::remove(dir.path / "sub");
    }
    SUBCASE("a path without a file name") {
      CHECK_THROWS_WITH_AS(save(first, dir.path / ""), doctest::Contains("does not name a file"), ValueError);
    }
    CHECK(read_file(path) == old);
    CHECK(dir.files() == std::vector<std::string>{"adam.dckpt"});
  }

  TEST_CASE("load: I/O errors and corrupt files name the path and the byte offset") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(load(dir.path / "nope.dckpt"), doctest::Contains("load: cannot open checkpoint '"),
                         RuntimeError);
    CHECK_THROWS_WITH_AS(load(dir.path), doctest::Contains("is not a regular file"), RuntimeError);
    const fs::path fifo = dir.path / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(load(fifo), doctest::Contains("is not a regular file"), RuntimeError);

    const fs::path path = dir.path / "bad.dckpt";
    std::vector<uint8_t> b = serialize(Value(randn({4})));
    b[130] ^= 0x10;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    CHECK_THROWS_WITH_AS(load(path),
                         doctest::Contains(("load: checkpoint '" + path.string() + "' is invalid at byte " +
                                            std::to_string(b.size() - 4) + ": checksum mismatch")
                                               .c_str()),
                         ValueError);
  }

  TEST_CASE("every malformed input is rejected with the broken rule and its byte offset") {
    const std::vector<uint8_t> valid = one_tensor_file().bytes();
    REQUIRE(valid.size() == 204);
    auto with = [](auto edit) {
      File f = one_tensor_file();
      edit(f);
      return f.bytes();
    };
    auto sparse_with = [](auto edit) {
      File f = sparse_file();
      edit(f);
      return f.bytes();
    };
    std::vector<uint8_t> v2 = valid, truncated(valid.begin(), valid.end() - 1), appended = valid,
                         junk_data = valid, tail_in_meta = tree_file(Le().u8(0x00)).bytes();
    put_le(v2, 8, 2, 4);
    fix_trailer(v2);
    appended.push_back(0);
    // A data section of one byte, all claimed by the metadata: its padding cannot fit.
    tail_in_meta.insert(tail_in_meta.end() - 12, 1);
    put_le(tail_in_meta, 16, 41, 8);
    fix_trailer(tail_in_meta);
    junk_data.insert(junk_data.end() - 12, 64, 0);
    fix_trailer(junk_data);
    // The blob's padding cut off.
    std::vector<uint8_t> unpadded_blob = valid;
    unpadded_blob.erase(unpadded_blob.begin() + 136, unpadded_blob.begin() + 192);
    fix_trailer(unpadded_blob);

    struct Case {
      std::string name;
      std::vector<uint8_t> bytes;
      std::string message;
    };
    const std::vector<Case> cases = {
        {"empty input", {}, "at byte 0: not a descent checkpoint"},
        {"another format", {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}, "at byte 0: not a descent checkpoint"},
        {"short", std::vector<uint8_t>(valid.begin(), valid.begin() + 20),
         "at byte 20: truncated: the input has 20 bytes"},
        {"newer version", v2,
         "at byte 8: format version 2 is not supported (this build of descent reads versions 1 to 1"},
        {"version 0", patched(valid, 8, 0), "at byte 8: format version 0 is not supported"},
        {"flags", patched(valid, 12, 1), "at byte 12: header flags 0x1 are not supported"},
        {"truncated", truncated, "at byte 191: the trailer records a total length of"},
        {"appended", appended,
         "at byte 193: the trailer records a total length of 5548434740920451072 bytes but the input has "
         "205"},
        {"bit flip",
         [&] {
           auto b = valid;
           b[100] ^= 4;
           return b;
         }(),
         "at byte 200: checksum mismatch"},
        {"metadata length", patched(valid, 23, 1), "at byte 16: metadata length 72057594037928005 exceeds"},
        {"metadata into trailer", tail_in_meta, "the padding after the metadata runs into the trailer"},
        {"metadata padding", patched(valid, 93, 7),
         "at byte 93: padding after the metadata holds the byte 0x7"},
        {"storage count", patched(valid, 24, 200), "at byte 24: storage count 200 cannot fit"},
        {"device code", patched(valid, 32, 2), "at byte 32: storage 0: device type code 2 is unknown"},
        {"element width", patched(valid, 33, 3),
         "at byte 33: storage 0: element width 3 is not 1, 2, 4 or 8"},
        {"reserved", patched(valid, 34, 9), "at byte 34: storage 0: reserved field is 9"},
        {"cpu index", patched(valid, 36, 1), "at byte 36: storage 0: device index 1 is invalid for cpu"},
        {"cuda index", with([](File& f) { f.storages = {storage_rec(1, 4, 8, -1)}; }),
         "device index -1 is invalid for cuda"},
        {"blob overrun", patched(valid, 41, 1),
         "at byte 40: storage 0: a blob of 264 bytes at byte 128 overruns"},
        {"blob padding into trailer", unpadded_blob,
         "storage 0: the padding after its blob runs into the trailer"},
        {"blob padding", patched(valid, 140, 1),
         "at byte 140: padding after a storage blob holds the byte 0x1"},
        {"bool byte", with([](File& f) {
           f.storages = {storage_rec(0, 1, 2)};
           f.tensors = {strided_rec(0, {2}, 0, 0)};
           f.blobs = {{1, 2}};
         }),
         "at byte 129: storage 0 holds bools but this byte is 2"},
        {"data after blobs", junk_data,
         "at byte 192: the data section has 64 bytes after the last storage blob"},
        {"tensor count", patched(valid, 48, 2), "at byte 48: tensor count 2 cannot fit"},
        {"layout", patched(valid, 56, 2), "at byte 56: tensor 0: layout code 2 is unknown"},
        {"dtype", patched(valid, 57, 9),
         "at byte 57: tensor 0: dtype code 9 is unknown (valid codes are 0..7)"},
        {"requires_grad flag", patched(valid, 58, 2), "at byte 58: tensor 0: requires_grad flag is 2"},
        {"requires_grad on int64", with([](File& f) {
           f.storages = {storage_rec(0, 8, 8)};
           f.tensors = {strided_rec(1, {1}, 0, 0, 1)};
           f.blobs = {std::vector<uint8_t>(8)};
         }),
         "requires_grad is set on a tensor of dtype torch.int64"},
        {"ndim", with([](File& f) { f.tensors = {strided_rec(4, Shape(65, 1), 0, 0)}; }),
         "tensor 0: ndim 65 exceeds the limit of 64"},
        {"negative size", with([](File& f) { f.tensors = {strided_rec(4, {-2}, 0, 0)}; }),
         "at byte 60: tensor 0: size -2 at dimension 0 is negative"},
        {"element count overflow", with([](File& f) {
           f.tensors = {strided_rec(4, {0, int64_t{1} << 62, 4}, 0, 0)};
         }),
         "at byte 76: tensor 0: size 4 at dimension 2 makes the number of elements overflow int64"},
        {"storage index", patched(valid, 68, 1),
         "at byte 68: tensor 0: storage index 1 is out of range (there are 1 storages)"},
        {"width mismatch", patched(valid, 57, 5),
         "tensor 0: dtype torch.float64 has element width 8 but storage 0 has width 4"},
        {"misaligned offset", patched(valid, 76, 2),
         "at byte 76: tensor 0: byte offset 2 is not a multiple of the element size 4"},
        {"out of bounds", patched(valid, 60, 3),
         "tensor 0 of shape [3] and dtype torch.float32 needs bytes from offset 0 on, but storage 0 has 8 "
         "bytes"},
        {"offset past the end", patched(valid, 76, 12), "needs bytes from offset 12 on"},
        {"coalesced flag", sparse_with([](File& f) { f.tensors[2] = sparse_rec(4, {4}, 2, 0, 1); }),
         "tensor 2: coalesced flag is 2"},
        {"sparse part not earlier", sparse_with([](File& f) { f.tensors[2] = sparse_rec(4, {4}, 1, 2, 1); }),
         "tensor 2: a sparse tensor's indices and values must be earlier strided tensors, but got tensor 2"},
        {"sparse part sparse", sparse_with([](File& f) { f.tensors.push_back(sparse_rec(4, {4}, 1, 0, 2)); }),
         "but got tensor 2"},
        {"sparse indices dtype", sparse_with([](File& f) { f.tensors[2] = sparse_rec(4, {4}, 1, 1, 1); }),
         "sparse indices must be an int64 [sparse_dim, nnz] tensor, but tensor 1 is torch.float32 of shape "
         "[2]"},
        {"sparse values", sparse_with([](File& f) {
           f.tensors[2] = sparse_rec(4, {4, 2}, 1, 0, 1);
         }),
         "sparse values tensor 1 (torch.float32, shape [2]) does not match 2 entries of a torch.float32 "
         "tensor of shape [4, 2]"},
        {"sparse devices", sparse_with([](File& f) { f.storages[1] = storage_rec(1, 4, 8); }),
         "sparse indices and values were saved on different devices"},
        {"sparse index bounds", sparse_file({0, 4}).bytes(),
         "sparse index 4 of entry 1 is out of bounds for dimension 0 with size 4"},
        {"negative sparse index", sparse_file({-1, 2}).bytes(),
         "sparse index -1 of entry 0 is out of bounds"},
        {"unsorted but coalesced", sparse_file({2, 0}).bytes(),
         "flagged coalesced but entries 0 and 1 are not in strictly increasing index order"},
        {"duplicates but coalesced", sparse_file({2, 2}).bytes(), "flagged coalesced but entries 0 and 1"},
        {"value tag", tree_file(Le().u8(0x0B)).bytes(), "at byte 40: unknown value tag 0xb"},
        {"tensor reference", patched(valid, 85, 1),
         "at byte 84: tensor reference 1 is out of range (the tensor table has 1 tensors)"},
        {"list length", tree_file(Le().u8(0x08).u64(1000)).bytes(),
         "at byte 41: list length 1000 cannot fit"},
        {"dict length", tree_file(Le().u8(0x0A).u64(3).u8(0x03).u64(1).u8(0)).bytes(),
         "at byte 41: dict length 3 cannot fit"},
        {"string length", tree_file(Le().u8(0x05).u64(uint64_t{1} << 63)).bytes(),
         "string length 9223372036854775808 cannot fit"},
        {"depth", tree_file(nested_lists(65)).bytes(), "lists, tuples and dicts nest deeper than 64 levels"},
        {"dict key tag", tree_file(Le().u8(0x0A).u64(1).u8(0x04).u64(0).u8(0)).bytes(),
         "at byte 49: dict key tag 0x4 is not int (0x03) or str (0x05)"},
        {"duplicate int key",
         tree_file(Le().u8(0x0A).u64(2).u8(0x03).u64(7).u8(0).u8(0x03).u64(7).u8(0)).bytes(),
         "at byte 59: duplicate dict key 7"},
        {"duplicate str key",
         tree_file(Le().u8(0x0A).u64(2).u8(0x05).u64(1).raw("k").u8(0).u8(0x05).u64(1).raw("k").u8(0))
             .bytes(),
         "duplicate dict key 'k'"},
        {"truncated int", tree_file(Le().u8(0x03).put(1, 4)).bytes(),
         "at byte 41: truncated int value (needs 8 bytes, the metadata has 4 left)"},
        {"trailing metadata", tree_file(Le().u8(0x00).u8(0x00)).bytes(),
         "at byte 41: 1 unexpected bytes follow the root value"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CHECK_THROWS_WITH_AS(deserialize(c.bytes),
                           doctest::Contains("deserialize: checkpoint buffer is invalid at byte"),
                           ValueError);
      CHECK_THROWS_WITH_AS(deserialize(c.bytes), doctest::Contains(c.message.c_str()), ValueError);
    }
  }

  // What loads and looks like a state dict also goes through load_state_dict
  // and step() of fused Adam, forloop Adam and SGD, as in the fuzz target.
  TEST_CASE("fuzz corpus regression: every input loads or raises descent::Error, and so do optimizers fed with it") {
    const fs::path corpus = fs::path(DESCENT_FIXTURE_DIR) / ".." / "fuzz" / "corpus";
    REQUIRE(fs::is_directory(corpus));
    int files = 0;
    for (const auto& entry : fs::directory_iterator(corpus)) {
      std::vector<uint8_t> b = read_file(entry.path());
      CAPTURE(entry.path().filename().string());
      ++files;
      for (int fixed = 0; fixed < 2; ++fixed) {
        if (fixed) fix_trailer(b);
        try {
          feed_optimizers(deserialize(b));
        } catch (const descent::Error&) {
        }
      }
    }
    CHECK(files >= 10);
  }

  TEST_CASE("seeded random corruption: thousands of mutated checkpoints load or raise descent::Error") {
    Tensor shared = randn({3, 2});
    const std::vector<std::vector<uint8_t>> seeds = {
        serialize(Dict{{"state", Dict{{int64_t{0}, Dict{{"step", scalar_tensor(2.0)}, {"exp_avg", shared}}}}},
                       {"param_groups", Value::list({Dict{{"lr", 0.01},
                                                          {"betas", Value::tuple({0.9, 0.99})},
                                                          {"params", Value::list({int64_t{0}})},
                                                          {"name", "g"}}})}}),
        serialize(Value::list(
            {shared, shared.narrow(0, 1, 1), tensor<int64_t>({1, 2}), tensor<bool>({true, false}),
             randn({2}, of(kFloat16)), complex(randn({2}), randn({2})),
             sparse_coo_tensor(tensor<int64_t>({0, 3, 1}, {1, 3}), randn({3, 2}), {4, 2}), Tensor()})),
        sparse_file().bytes(), serialize(Value::tuple({Value(), true, int64_t{-3}, 2.5, "text"}))};
    std::mt19937_64 rng(20240607);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    int loaded = 0, rejected = 0, undetected = 0;
    for (int i = 0; i < 6000; ++i) {
      const std::vector<uint8_t>& seed = seeds[pick(seeds.size())];
      std::vector<uint8_t> b = seed;
      switch (pick(6)) {
        case 0:
          for (std::size_t k = 1 + pick(8); k > 0; --k)
            b[pick(b.size())] ^= static_cast<uint8_t>(1u << pick(8));
          break;
        case 1:
          b.resize(pick(b.size()));
          break;
        case 2: {
          const std::vector<uint8_t> ins = random_bytes(rng, 1 + pick(16), false);
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), ins.begin(), ins.end());
          break;
        }
        case 3:
          for (std::size_t at = pick(b.size()), k = 1 + pick(16); k > 0 && at < b.size(); --k, ++at)
            b[at] = static_cast<uint8_t>(rng());
          break;
        case 4: {
          const std::size_t at = pick(b.size());
          b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                  b.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), at + 1 + pick(32))));
          break;
        }
        default: {
          const std::size_t at = pick(b.size()), n = std::min(b.size() - at, 1 + pick(32));
          const std::vector<uint8_t> chunk(b.begin() + static_cast<std::ptrdiff_t>(at),
                                           b.begin() + static_cast<std::ptrdiff_t>(at + n));
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), chunk.begin(), chunk.end());
        }
      }
      const bool fixed = i % 2 == 1;  // half get a valid trailer, to reach the parser behind the checksum
      if (fixed) fix_trailer(b);
      try {
        Value v = deserialize(b);
        ++loaded;
        if (!fixed && b != seed) ++undetected;
        const std::vector<uint8_t> again = serialize(v);
        CHECK(serialize(deserialize(again)) == again);
      } catch (const descent::Error&) {
        ++rejected;
      }
    }
    CHECK(undetected == 0);  // the checksum catches every raw corruption
    CHECK(rejected > 3000);
    MESSAGE("random corruption: ", loaded, " loaded, ", rejected, " rejected");
  }

  // Issue 13 (fault campaign): keys were checked for duplicates with a
  // std::unordered_set, whose int hash is the identity: 100k keys that are
  // multiples of its bucket count took 20-58 s to load instead of ~50 ms.
  TEST_CASE("crafted dict keys load as fast as ordinary ones") {
    constexpr int64_t n = 100000;
    // Multiples of the bucket count std::unordered_set picks for n keys, and of 2^16
    // (for tables with power-of-two sizes).
    std::unordered_set<Key> probe;
    probe.reserve(n);
    const int64_t stride = static_cast<int64_t>(probe.bucket_count()) << 16;
    auto dict_file = [&](int64_t step, std::optional<int64_t> duplicate = std::nullopt) {
      Le tree;
      tree.u8(0x0A).u64(n + (duplicate ? 1 : 0));
      for (int64_t i = 0; i < n; ++i) tree.u8(0x03).u64(static_cast<uint64_t>(i * step)).u8(0x00);
      if (duplicate) tree.u8(0x03).u64(static_cast<uint64_t>(*duplicate)).u8(0x00);
      return tree_file(tree).bytes();
    };
    const std::vector<uint8_t> normal = dict_file(1), crafted = dict_file(stride);
    REQUIRE(normal.size() == crafted.size());
    // Load, then look every key up in the loaded dict; the best of three runs.
    auto seconds = [](const std::vector<uint8_t>& bytes) {
      double best = 1e9;
      for (int run = 0; run < 3; ++run) {
        const auto start = std::chrono::steady_clock::now();
        Value v = deserialize(bytes);
        const Dict& d = v.to_dict();
        std::size_t found = 0;
        for (const auto& item : d) found += d.contains(item.first) ? 1 : 0;
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        CHECK(found == static_cast<std::size_t>(n));
        if (best > 1.0) break;  // slow enough to fail; do not wait for two more
      }
      return best;
    };
    const double normal_s = seconds(normal), crafted_s = seconds(crafted);
    MESSAGE("a ", crafted.size(), "-byte dict of ", n, " int keys loads in ", normal_s * 1e3,
            " ms; with keys that are multiples of ", stride, ": ", crafted_s * 1e3, " ms");
    CHECK(crafted_s < 20 * normal_s + 0.05);
    // Duplicates are still found in big dicts, at the byte of the second occurrence.
    const std::vector<uint8_t> dup = dict_file(stride, 77 * stride);
    const std::string message =
        "at byte " + std::to_string(49 + 10 * n) + ": duplicate dict key " + std::to_string(77 * stride);
    CHECK_THROWS_WITH_AS(deserialize(dup), doctest::Contains(message.c_str()), ValueError);
  }

  // Issue 13: a 204-byte file held a sparse tensor with sparse_dim 0 and nnz 2^k
  // whose entries take no bytes (values of shape [2^k, 0]); it loaded, and
  // to_dense() then ran for minutes (2^26) or threw std::length_error (2^62).
  TEST_CASE("a sparse tensor without sparse dims holds at most one entry") {
    auto no_sparse_dims = [](int64_t nnz, uint8_t coalesced = 0) {
      File f;
      f.storages = {storage_rec(0, 8, 0), storage_rec(0, 4, 0)};
      f.tensors = {strided_rec(1, {0, nnz}, 0, 0), strided_rec(4, {nnz, 0}, 1, 0),
                   sparse_rec(4, {0}, coalesced, 0, 1)};
      f.tree = tensor_ref(2);
      f.blobs = {{}, {}};
      return f.bytes();
    };
    CHECK(no_sparse_dims(int64_t{1} << 26).size() == 204);
    for (int64_t nnz : {int64_t{2}, int64_t{1} << 26, int64_t{1} << 62}) {
      CAPTURE(nnz);
      for (uint8_t coalesced : {0, 1})
        CHECK_THROWS_WITH_AS(
            deserialize(no_sparse_dims(nnz, coalesced)),
            doctest::Contains(("is invalid at byte 157: tensor 2: sparse indices tensor 0 has shape [0, " +
                               std::to_string(nnz) + "]: nnz " + std::to_string(nnz) +
                               " with sparse_dim 0 (a sparse tensor without sparse dims holds at most one "
                               "entry, nnz <= 1)")
                                  .c_str()),
            ValueError);
    }
    for (int64_t nnz : {0, 1}) {
      Tensor t = deserialize(no_sparse_dims(nnz)).to_tensor();
      CHECK(t._nnz() == nnz);
      CHECK(t.to_dense().sizes() == Shape{0});
    }
    // The writer keeps to the reader's rule.
    Tensor three = sparse_coo_tensor(empty({0, 3}, of(kInt64)), randn({3, 2}), {2});
    CHECK_THROWS_WITH_AS(serialize(Value(three)),
                         doctest::Contains("serialize: a sparse tensor of shape [2] has sparse_dim 0 and nnz 3 (the "
                                           "checkpoint format allows at most one entry without sparse dims; call "
                                           "coalesce() first)"),
                         ValueError);
    Tensor one = three.coalesce();
    Tensor back = round_trip(Value(one)).to_tensor();
    CHECK(back._nnz() == 1);
    CHECK(back.is_coalesced());
    CHECK(bytes_of(back._values()) == bytes_of(one._values()));
  }

  // Issue 13: a save killed midway left `.<name>.tmp-<counter>` behind forever.
  TEST_CASE("save and load remove stale temporary files of their target, and nothing else") {
    TempDir dir;
    const fs::path path = dir.path / "model.dckpt";
    const std::string me = std::to_string(::getpid());
    // A process that has exited and been reaped: its pid names no process now.
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(0);
    REQUIRE(::waitpid(child, nullptr, 0) == child);
    const std::string dead = std::to_string(child);
    REQUIRE(::kill(child, 0) != 0);
    const std::string alive = std::to_string(::getppid());  // another process that is running

    auto touch = [&](const std::string& name) {
      std::ofstream(dir.path / name) << "partial";
      REQUIRE(fs::is_regular_file(dir.path / name));
    };
    auto plant = [&] {
      const std::vector<std::string> stale = {
          ".model.dckpt.tmp-" + dead + "-7",  // a killed save of another process
          ".model.dckpt.tmp-" + dead + "-0",
          ".model.dckpt.tmp-" + me + "-18446744073709551615",  // this process, no save of it is writing
      };
      for (const std::string& name : stale) touch(name);
      return stale;
    };
    const std::vector<std::string> decoys = {
        ".model.dckpt.tmp-" + alive + "-7",  // a save of a live process
        ".model.dckpt.tmp-" + dead,          // not the writer's suffix format...
        ".model.dckpt.tmp-" + dead + "-",
        ".model.dckpt.tmp-" + dead + "-07",
        ".model.dckpt.tmp-0" + dead + "-7",
        ".model.dckpt.tmp-" + dead + "-7x",
        ".model.dckpt.tmp-" + dead + "-7.bak",
        ".model.dckpt.tmp--" + dead + "-7",
        ".model.dckpt.tmp-" + dead + "--7",
        ".model.dckpt.tmp-0-7",
        ".model.dckpt.tmp-99999999999-7",
        ".model.dckpt.tmp-",
        ".model.dckpt.tmp-12345",              // the pid-less names of older versions
        "model.dckpt.tmp-" + dead + "-7",      // ...nor the exact prefix
        ".model.dckpt.tmp" + dead + "-7",
        "..model.dckpt.tmp-" + dead + "-7",
        ".model.dckpt.tm-" + dead + "-7",
        ".xmodel.dckpt.tmp-" + dead + "-7",
        ".model.dckpt.tmp-" + dead + "-7 ",
        ".other.dckpt.tmp-" + dead + "-7",     // another target's
        ".model.dckp.tmp-" + dead + "-7",
        "model.dckpt.bak",
        ".model.dckpt",
    };
    for (const std::string& name : decoys) touch(name);
    // Right names, but not plain files nobody writes: a directory, a symbolic link, a FIFO, and a
    // file that a writer (one this process cannot see by its pid) holds locked.
    const std::string as_dir = ".model.dckpt.tmp-" + dead + "-8", as_link = ".model.dckpt.tmp-" + dead + "-9",
                      as_fifo = ".model.dckpt.tmp-" + dead + "-10", locked = ".model.dckpt.tmp-" + dead + "-11";
    fs::create_directory(dir.path / as_dir);
    touch("link-target");
    fs::create_symlink(dir.path / "link-target", dir.path / as_link);
    REQUIRE(::mkfifo((dir.path / as_fifo).c_str(), 0600) == 0);
    touch(locked);
    const int lock_fd = ::open((dir.path / locked).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(lock_fd >= 0);
    REQUIRE(::flock(lock_fd, LOCK_EX | LOCK_NB) == 0);
    // The same names in a subdirectory belong to another target.
    fs::create_directory(dir.path / "sub");
    std::ofstream(dir.path / "sub" / (".model.dckpt.tmp-" + dead + "-7")) << "partial";

    std::vector<std::string> survivors = decoys;
    for (const std::string& name : {as_dir, as_link, as_fifo, locked, std::string("link-target"),
                                    std::string("sub"), std::string("model.dckpt")})
      survivors.push_back(name);
    std::sort(survivors.begin(), survivors.end());
    auto files = [&] {
      std::vector<std::string> names = dir.files();
      std::sort(names.begin(), names.end());
      return names;
    };

    plant();
    const Value value = Dict{{"w", randn({4})}, {"step", 3}};
    save(value, path);
    CHECK(files() == survivors);
    CHECK(load(path) == value);
    plant();
    CHECK(load(path) == value);  // load cleans up too
    CHECK(files() == survivors);
    // A load that fails (not a checkpoint) still cleans up, and cleaning never makes it fail differently.
    plant();
    CHECK_THROWS_AS(load(dir.path / "link-target"), ValueError);
    CHECK(files().size() == survivors.size() + 3);  // another target: its own temporaries only
    std::ofstream(dir.path / (".link-target.tmp-" + dead + "-1")) << "partial";
    CHECK_THROWS_AS(load(dir.path / "link-target"), ValueError);
    CHECK(!fs::exists(dir.path / (".link-target.tmp-" + dead + "-1")));
    save(value, path);
    CHECK(files() == survivors);
    CHECK(fs::is_regular_file(dir.path / "sub" / (".model.dckpt.tmp-" + dead + "-7")));
    CHECK(fs::is_regular_file(dir.path / "link-target"));
    // Relative paths name the same directory.
    {
      plant();
      const fs::path cwd = fs::current_path();
      fs::current_path(dir.path);
      CHECK(load("model.dckpt") == value);
      fs::current_path(cwd);
      CHECK(files() == survivors);
    }
    ::close(lock_fd);
    // Unlocked now, but its pid is dead: the lock was all that kept it.
    save(value, path);
    survivors.erase(std::find(survivors.begin(), survivors.end(), locked));
    CHECK(files() == survivors);

    // A real save killed midway: the file-size limit's SIGXFSZ kills the child part way through the blob.
    const Value large = Dict{{"w", zeros({1 << 18})}};
    const pid_t killed = ::fork();
    REQUIRE(killed >= 0);
    if (killed == 0) {
      ::alarm(30);
      rlimit small{1 << 16, 1 << 16};
      ::setrlimit(RLIMIT_FSIZE, &small);
      std::signal(SIGXFSZ, SIG_DFL);
      try {
        save(large, path);
      } catch (...) {
      }
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(killed, &status, 0) == killed);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ));
    auto left_by_killed = [&] {
      const std::string prefix = ".model.dckpt.tmp-" + std::to_string(killed) + "-";
      int n = 0;
      for (const std::string& name : dir.files()) n += name.rfind(prefix, 0) == 0 ? 1 : 0;
      return n;
    };
    CHECK(left_by_killed() == 1);
    CHECK(load(path) == value);
    CHECK(left_by_killed() == 0);
    CHECK(files() == survivors);
  }

  TEST_CASE("cleanup never removes the temporary file of a save that is still writing") {
    TempDir dir;
    const fs::path path = dir.path / "busy.dckpt";
    const Value big = Dict{{"w", zeros({1 << 18})}};
    save(big, path);
    std::atomic<bool> done{false};
    std::atomic<int> saves{0}, failures{0};
    std::thread writer([&] {
      for (int i = 0; i < 40; ++i) {
        try {
          save(big, path);
          ++saves;
        } catch (const descent::Error&) {
          ++failures;
        }
      }
      done = true;
    });
    int loads = 0;
    while (!done) {
      CHECK_NOTHROW(load(path));
      ++loads;
    }
    writer.join();
    MESSAGE(saves.load(), " saves while ", loads, " loads cleaned up beside them");
    CHECK(failures == 0);
    CHECK(saves == 40);
    CHECK(dir.files() == std::vector<std::string>{"busy.dckpt"});
  }

}  // TEST_SUITE
