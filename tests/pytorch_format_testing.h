#pragma once
// Shared by tests/test_pytorch_format*.cpp and tests/fuzz/fuzz_pytorch.cpp: the canonical description of a
// value tree that scripts/fixtures/pytorch_checkpoints.py prints alike
// (floats and tensor bytes as raw bits), and builders of crafted archives.
#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "descent/optim/pytorch_format.h"
#include "optim/checkpoint_format.h"
#include "optim/pytorch/zip.h"

namespace descent::testing {

inline std::string dtype_name(Dtype d) {
  switch (d) {
    case kBool: return "bool";
    case kInt64: return "int64";
    case kFloat16: return "float16";
    case kBFloat16: return "bfloat16";
    case kFloat32: return "float32";
    case kFloat64: return "float64";
    case kComplex64: return "complex64";
    case kComplex128: return "complex128";
    default: return "?";
  }
}

inline std::string describe(const Value& v);

inline std::string describe_key(const Key& k) {
  if (const auto* i = std::get_if<int64_t>(&k)) return std::to_string(*i);
  const std::string& s = std::get<std::string>(k);
  return "s:" + std::to_string(s.size()) + ":" + s;
}

inline std::string describe(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_bool()) return v.to_bool() ? "True" : "False";
  if (v.is_int()) return std::to_string(v.to_int());
  if (v.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "f:%016llx", static_cast<unsigned long long>(std::bit_cast<uint64_t>(v.to_double())));
    return buf;
  }
  if (v.is_string()) return "s:" + std::to_string(v.to_string_value().size()) + ":" + v.to_string_value();
  if (v.is_tensor()) {
    const Tensor t = v.to_tensor().cpu();
    std::string shape;
    for (std::size_t d = 0; d < t.sizes().size(); ++d) shape += (d ? "x" : "") + std::to_string(t.sizes()[d]);
    std::string hex;
    const auto* p = static_cast<const uint8_t*>(t.data_ptr());
    for (int64_t b = 0; b < t.nbytes(); ++b) {
      char buf[3];
      std::snprintf(buf, sizeof buf, "%02x", p[b]);
      hex += buf;
    }
    return "T(" + dtype_name(t.dtype()) + ",[" + shape + "]," + (v.to_tensor().requires_grad() ? "1" : "0") + "," +
           hex + ")";
  }
  if (v.is_list()) {
    const List& l = v.to_list();
    std::string out = l.is_tuple ? "(" : "[";
    for (const Value& item : l.items) out += describe(item) + ",";
    return out + (l.is_tuple ? ")" : "]");
  }
  std::string out = "{";
  for (const auto& [k, item] : v.to_dict()) out += describe_key(k) + ":" + describe(item) + ",";
  return out + "}";
}

#ifdef DESCENT_FIXTURE_DIR  // the test suites' build, not the fuzzer's
inline std::filesystem::path pytorch_fixture(const std::string& name) {
  return std::filesystem::path(DESCENT_FIXTURE_DIR) / "pytorch" / name;
}
#endif

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A stored archive "archive/<name>" for each record, as torch.save lays it out.
inline std::vector<uint8_t> archive(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& records,
                                    bool force_zip64 = false) {
  std::vector<uint8_t> out;
  checkpoint::VectorSink sink(out);
  pytorch::ZipWriter zip(sink, force_zip64);
  for (const auto& [name, data] : records) zip.add("archive/" + name, data);
  zip.finish();
  return out;
}

inline std::vector<uint8_t> text(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// A torch.save archive around a hand-written data.pkl and storage records.
inline std::vector<uint8_t> pickle_archive(const std::string& pkl,
                                           std::vector<std::pair<std::string, std::vector<uint8_t>>> data = {}) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> records{{"data.pkl", text(pkl)}};
  for (auto& [key, bytes] : data) records.emplace_back("data/" + key, std::move(bytes));
  records.emplace_back("version", text("3\n"));
  return archive(records);
}

// Pickle building blocks (protocol 2 opcodes).
inline std::string u32(uint32_t n) { return std::string{char(n), char(n >> 8), char(n >> 16), char(n >> 24)}; }
// Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + string.
inline std::string str(const std::string& s) {
  std::string out(1, 'X');
  out += u32(static_cast<uint32_t>(s.size()));
  out += s;
  return out;
}
inline std::string small(int n) { return std::string("K") + char(n); }
inline std::string ints(const std::vector<int>& v) {
  std::string out = "(";
  for (int x : v) {
    if (x < 0) {
      out += 'J';
      out += u32(static_cast<uint32_t>(x));
    } else {
      out += small(x);
    }
  }
  return out + "t";
}
inline const std::string kHead = "\x80\x02";

// _rebuild_tensor_v2 over storage "0" of numel elements of the given type.
inline std::string tensor_pickle(const std::string& storage_type, int numel, int offset, const std::vector<int>& size,
                                 const std::vector<int>& stride, bool requires_grad = false,
                                 const std::string& location = "cpu") {
  return kHead + "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") + "ctorch\n" + storage_type + "\n" +
         str("0") + str(location) + small(numel) + "tQ" + small(offset) + ints(size) + ints(stride) +
         (requires_grad ? "\x88" : "\x89") + "ccollections\nOrderedDict\n)RtR.";
}

}  // namespace descent::testing
