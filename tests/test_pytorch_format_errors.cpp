// load_pytorch / save_pytorch on bad input (docs/pytorch-format.md, "What
// is refused"): every refusal is a typed descent::Error whose message names
// the rule; nothing in a file is executed. Also replays the fuzz corpus of
// tests/fuzz/fuzz_pytorch.cpp.
#include <doctest/doctest.h>

#include "descent/tensor/ops.h"
#include "pytorch_format_testing.h"

using namespace descent;
using namespace descent::testing;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> zeros_of(std::size_t n) { return std::vector<uint8_t>(n, 0); }

template <typename E>
void refused(const std::vector<uint8_t>& bytes, const std::string& message) {
  CAPTURE(message);
  CHECK_THROWS_WITH_AS(deserialize_pytorch(bytes), doctest::Contains(message.c_str()), E);
}
void refused_pickle(const std::string& pkl, const std::string& message) {
  refused<ValueError>(pickle_archive(pkl), message);
}

// Offsets of the records of a small archive, to corrupt them.
std::size_t find_u32(const std::vector<uint8_t>& bytes, uint32_t sig, std::size_t from = 0) {
  for (std::size_t i = from; i + 4 <= bytes.size(); ++i)
    if (bytes[i] == (sig & 0xFF) && bytes[i + 1] == ((sig >> 8) & 0xFF) && bytes[i + 2] == ((sig >> 16) & 0xFF) &&
        bytes[i + 3] == (sig >> 24))
      return i;
  FAIL("signature not found");
  return 0;
}

}  // namespace

TEST_CASE("load_pytorch refuses globals outside the allowlist and executes nothing") {
  for (const char* version : {"torch1", "torch2"}) {
    CAPTURE(version);
    CHECK_THROWS_WITH_AS(load_pytorch(pytorch_fixture(std::string(version) + "/forbidden_os_system.pt")),
                         doctest::Contains("global 'posix.system' is not allowed"), ValueError);
  }
  refused_pickle(kHead + "cbuiltins\neval\n(" + str("1+1") + "tR.", "global 'builtins.eval' is not allowed");
  refused_pickle(kHead + str("os") + str("system") + "\x93.", "global 'os.system' is not allowed");
  refused<NotImplementedError>(pickle_archive(tensor_pickle("IntStorage", 1, 0, {1}, {1}), {{"0", zeros_of(4)}}),
                               "'torch.IntStorage' is not supported by descent");
  refused<NotImplementedError>(pickle_archive(kHead + "ctorch._utils\n_rebuild_sparse_tensor\n."),
                               "'torch._utils._rebuild_sparse_tensor' is not supported");
  refused_pickle(kHead + "ccollections\nOrderedDict\n.", "the result holds a bare global");
  refused_pickle(kHead + "ccollections\nOrderedDict\n(" + small(1) + "tR.", "OrderedDict is called with 1 arguments");
  refused_pickle(kHead + "N)R.", "REDUCE calls a None");
  refused_pickle(kHead + "ccollections\nOrderedDict\nNR.", "REDUCE with a None of arguments");
  refused_pickle(kHead + "ctorch\nFloatStorage\n)R.", "REDUCE calls torch.FloatStorage");
  refused_pickle(kHead + "}}b.", "BUILD on a dict with a dict state");
  refused_pickle(kHead + "cos\n" + std::string(300, 'a') + ".", "has no newline within 256 bytes");
}

TEST_CASE("load_pytorch refuses malformed pickles") {
  refused_pickle(kHead + "\x81.", "opcode 0x81 is not supported");
  refused_pickle(kHead + "I1\n.", "opcode 0x49 is not supported");
  refused_pickle("\x80\x01N.", "pickle protocol 1");
  refused_pickle(kHead + "X" + u32(16) + "ab", "truncated: the string needs 16 bytes but only 2 remain");
  refused_pickle(kHead + "N", "truncated: the opcode needs 1 bytes");
  refused_pickle(kHead + "h\x05.", "memo index 5 was never stored");
  refused_pickle(kHead + "j\xff\xff\xff\xff.", "memo index 4294967295 was never stored");
  refused_pickle(kHead + "a.", "APPEND needs an object but the stack is empty");
  refused_pickle(kHead + "(a.", "APPEND needs an object but the stack is empty");  // a MARK hides what is below
  refused_pickle(kHead + "Nt.", "TUPLE without a MARK");
  refused_pickle(kHead + "NN.", "STOP with 2 objects on the stack");
  refused_pickle(kHead + ".", "STOP with 0 objects on the stack");
  refused_pickle(kHead + "(N.", "STOP with an open MARK");
  refused_pickle(kHead + "N.N", "1 bytes after the STOP opcode");
  refused_pickle(kHead + "NNa.", "APPEND applies to a None");
  refused_pickle(kHead + "}(Nu.", "SETITEMS with an odd number of objects");
  refused_pickle(kHead + "X" + u32(2) + "\xc3\x28.", "a string is not valid UTF-8");
  refused_pickle(kHead + "X" + u32(2) + "\xc0\x80.", "a string is not valid UTF-8");  // overlong NUL
  refused_pickle(kHead + "\x8a\x09" + std::string(9, '\x01') + ".", "an integer of 9 bytes does not fit in int64");
  refused_pickle(kHead + "}G" + std::string(8, '\0') + "Ns.", "a dict key is a float");
  refused_pickle(kHead + "}\x88Ns.", "a dict key is a bool");
  refused_pickle(kHead + "N" + str("a") + "\x93.", "STACK_GLOBAL needs two strings, got None and str");
  refused_pickle(kHead + std::string(65, ']') + std::string(64, 'a') + ".", "nest deeper than 64 levels");
  refused_pickle(kHead + std::string("]q\0h\0a.", 7), "nest deeper than 64 levels (or form a cycle)");
  // Each list holds its predecessor twice: 2^40 objects to copy from a few hundred bytes.
  std::string doubling = kHead + std::string("]q\0" "0", 4);
  for (int i = 1; i <= 40; ++i)
    doubling += std::string("(h") + char(i - 1) + "h" + char(i - 1) + "lq" + char(i) + "0";
  refused_pickle(doubling + "h\x28.", "the object graph expands past");
  refused_pickle(kHead + "(" + str("storage") + "N" + str("0") + str("cpu") + small(1) + "tQ.",
                 "a persistent id must be ('storage', torch.<T>Storage, key, location, numel)");
}

TEST_CASE("load_pytorch checks every tensor against its storage") {
  const auto floats = [](std::size_t n) { return std::vector<std::pair<std::string, std::vector<uint8_t>>>{{"0", zeros_of(4 * n)}}; };
  CHECK(deserialize_pytorch(pickle_archive(tensor_pickle("FloatStorage", 6, 1, {2, 2}, {1, 2}), floats(6)))
            .to_tensor()
            .sizes() == Shape{2, 2});
  refused<ValueError>(pickle_archive(tensor_pickle("FloatStorage", 4, 0, {5}, {1}), floats(4)),
                      "a tensor of size [5], stride [1] and offset 0 reaches past the 4 elements of storage '0'");
  refused<ValueError>(pickle_archive(tensor_pickle("FloatStorage", 4, 2, {2, 2}, {1, 1}), floats(4)),
                      "reaches past the 4 elements");
  refused<ValueError>(pickle_archive(tensor_pickle("FloatStorage", 4, 0, {2}, {1}), floats(3)),
                      "storage '0' claims 4 torch.float32 elements (4 bytes each) but its record holds 12 bytes");
  refused<ValueError>(pickle_archive(tensor_pickle("FloatStorage", 4, 0, {2}, {1})),
                      "storage '0' has no record 'archive/data/0'");
  refused<ValueError>(pickle_archive(tensor_pickle("FloatStorage", 4, 0, {2}, {-1}), floats(4)),
                      "must be non-negative");
  refused<ValueError>(pickle_archive(tensor_pickle("FloatStorage", 4, 0, {2, 2}, {1}), floats(4)),
                      "size [2, 2] and stride [1] differ in length");
  refused<ValueError>(pickle_archive(tensor_pickle("FloatStorage", 4, 9, {0}, {1}), floats(4)),
                      "storage offset 9 is past the 4 elements");
  refused<ValueError>(pickle_archive(tensor_pickle("BoolStorage", 2, 0, {2}, {1}), {{"0", {1, 2}}}),
                      "bool storage '0' holds byte 2 (must be 0 or 1)");
  refused<ValueError>(pickle_archive(tensor_pickle("LongStorage", 1, 0, {1}, {1}, true), {{"0", zeros_of(8)}}),
                      "a torch.int64 tensor cannot require grad");
  // 2^60 elements expanded from one stored element would be materialised by the copy.
  refused<ValueError>(pickle_archive(kHead + "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") +
                                         "ctorch\nFloatStorage\n" + str("0") + str("cpu") + small(1) + "tQ" + small(0) +
                                         "(\x8a\x08" + std::string(7, '\0') + "\x10t(" + small(0) + "t\x89" +
                                         "ccollections\nOrderedDict\n)RtR.",
                                     floats(1)),
                      "would exceed the copy budget");
  refused<NotImplementedError>(pickle_archive(tensor_pickle("FloatStorage", 1, 0, {1}, {1}, false, "mps"), floats(1)),
                               "storage location 'mps' is not supported");
  if (!cuda::is_available()) {
    const auto on_cuda = pickle_archive(tensor_pickle("FloatStorage", 1, 0, {1}, {1}, false, "cuda:0"), floats(1));
    refused<DeviceError>(on_cuda, "which is not available here");
    CHECK(deserialize_pytorch(on_cuda, Device(kCPU)).to_tensor().device() == Device(kCPU));
  }
  // One storage key named as two different storages.
  const std::string t1 = tensor_pickle("FloatStorage", 4, 0, {1}, {1}), t2 = tensor_pickle("DoubleStorage", 2, 0, {1}, {1});
  refused<ValueError>(pickle_archive(kHead + "(" + t1.substr(2, t1.size() - 3) + t2.substr(2, t2.size() - 3) + "t.",
                                     floats(4)),
                      "storage '0' is named again as 2 torch.float64 elements");
}

TEST_CASE("load_pytorch refuses broken, compressed and encrypted zip archives") {
  for (const char* version : {"torch1", "torch2"}) {
    CAPTURE(version);
    CHECK_THROWS_WITH_AS(load_pytorch(pytorch_fixture(std::string(version) + "/truncated.pt")),
                         doctest::Contains("zip: byte"), ValueError);
    CHECK_THROWS_WITH_AS(load_pytorch(pytorch_fixture(std::string(version) + "/compressed.pt")),
                         doctest::Contains("is compressed (method 8)"), NotImplementedError);
  }
  const std::vector<uint8_t> good = pickle_archive(kHead + "N.");
  CHECK(deserialize_pytorch(good).is_none());
  refused<ValueError>({}, "truncated: 0 bytes cannot hold");
  refused<ValueError>(text("not a zip archive at all, but long enough"), "no end of central directory record");
  const std::size_t end = find_u32(good, 0x06054b50), central = find_u32(good, 0x02014b50);
  auto corrupt = [&](std::size_t at, uint8_t value) {
    std::vector<uint8_t> b = good;
    b[at] = value;
    return b;
  };
  refused<ValueError>(corrupt(central, 'X'), "bad central directory entry signature");
  refused<ValueError>(corrupt(end + 19, 0x7f), "does not fit before the end records");
  {
    std::vector<uint8_t> b = good;
    b[end + 8] = b[end + 10] = 0x40;
    refused<ValueError>(b, "64 entries cannot fit in a central directory of");
  }
  refused<ValueError>(corrupt(end + 4, 1), "spans several disks");
  refused<ValueError>(corrupt(central + 42, 3), "bad local header signature");
  refused<ValueError>(corrupt(central + 45, 0x7f), "truncated: the local header needs 4 bytes");
  refused<ValueError>(corrupt(central + 24, 0x7f), "has compressed size");
  refused<NotImplementedError>(corrupt(central + 8, 1), "is encrypted");
  refused<NotImplementedError>(corrupt(central + 10, 8), "is compressed (method 8)");
  refused<ValueError>(corrupt(central + 46, 'b'), "the local header's name differs");
  refused<ValueError>(corrupt(find_u32(good, 0x04034b50) + 64, 'M'), "CRC-32 mismatch");
  {
    std::vector<uint8_t> b = good;
    b[central + 20] = b[central + 24] = 0xF0;  // both sizes agree, but run into the central directory
    refused<ValueError>(b, "run into the central directory");
  }
  refused<ValueError>(archive({{"data.pkl", text(kHead + "N.")}}), "has no 'archive/version' record");
  refused<ValueError>(archive({{"version", text("3\n")}}), "has no 'archive/data.pkl' record");
  refused<ValueError>(archive({{"data.pkl", text(kHead + "N.")}, {"version", text("99\n")}}),
                      "is not a file format version from 1 to 10");
  refused<ValueError>(archive({{"data.pkl", text(kHead + "N.")}, {"byteorder", text("middle")}, {"version", text("3")}}),
                      "the byteorder record is 'middle'");
  refused<ValueError>(archive({{"data.pkl", text("")}, {"data.pkl", text("")}}), "two entries are named 'archive/data.pkl'");
  {
    std::vector<uint8_t> out;
    checkpoint::VectorSink sink(out);
    pytorch::ZipWriter zip(sink);
    zip.add("data.pkl", text(kHead + "N."));
    zip.finish();
    refused<ValueError>(out, "the first entry 'data.pkl' is not inside a folder");
  }
}

TEST_CASE("save_pytorch refuses what PyTorch could not read back") {
  CHECK_THROWS_WITH_AS(serialize_pytorch(Value("\xff")), doctest::Contains("is not valid UTF-8"), ValueError);
  CHECK_THROWS_WITH_AS(serialize_pytorch(Dict{{std::string("\xc3"), 1}}), doctest::Contains("is not valid UTF-8"),
                       ValueError);
  Value deep = Value::list({});
  for (int i = 0; i < 64; ++i) deep = Value::list({deep});
  CHECK_THROWS_WITH_AS(serialize_pytorch(deep), doctest::Contains("nest deeper than 64 levels"), ValueError);
  const Tensor sparse = sparse_coo_tensor(tensor(std::vector<int64_t>{0, 1}, {1, 2}), tensor(std::vector<double>{1, 2}, {2}), {3});
  CHECK_THROWS_WITH_AS(serialize_pytorch(Dict{{"s", sparse}}), doctest::Contains("sparse tensors are not supported"),
                       NotImplementedError);
  const fs::path dir = fs::temp_directory_path() / "descent-no-such-dir" / "x.pt";
  CHECK_THROWS_WITH_AS(save_pytorch(Value(), dir), doctest::Contains("save_pytorch: cannot create a temporary file"),
                       RuntimeError);
}

TEST_CASE("load_pytorch: the fuzz corpus loads or raises descent::Error") {
  const fs::path corpus = fs::path(DESCENT_FIXTURE_DIR).parent_path() / "fuzz" / "corpus_pytorch";
  int n = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    const std::vector<uint8_t> bytes = read_bytes(entry.path());
    try {
      deserialize_pytorch(bytes, Device(kCPU));
    } catch (const Error&) {
    }
    ++n;
  }
  CHECK(n > 10);
}
