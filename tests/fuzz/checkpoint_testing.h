#pragma once
// Shared by tests/test_checkpoint.cpp and the fuzzing tools in tests/fuzz/:
// an independent bit-at-a-time CRC-32 (the reference the library's
// slicing-by-8 version is checked against), a trailer fix-up that lets
// corrupted inputs past the checksum so fuzzing reaches the parser behind it,
// and a hand-written encoder of docs/checkpoint-format.md for crafting files
// field by field.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace descent::testing {

inline uint32_t reference_crc32(const uint8_t* data, std::size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= data[i];
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

inline void put_le(std::vector<uint8_t>& bytes, std::size_t at, uint64_t value, int n) {
  for (int i = 0; i < n; ++i) bytes[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

// Rewrites the trailer (total length and CRC-32) to match the content;
// inputs too short to hold a trailer are left alone.
inline void fix_trailer(std::vector<uint8_t>& bytes) {
  const std::size_t n = bytes.size();
  if (n < 12) return;
  put_le(bytes, n - 12, n, 8);
  put_le(bytes, n - 4, reference_crc32(bytes.data(), n - 4), 4);
}

// ---- the documented layout, written field by field ----

struct Le {
  std::vector<uint8_t> b;
  Le& put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Le& u8(uint64_t v) { return put(v, 1); }
  Le& u64(uint64_t v) { return put(v, 8); }
  Le& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Le& add(const Le& o) {
    b.insert(b.end(), o.b.begin(), o.b.end());
    return *this;
  }
};

inline Le storage_rec(uint8_t device, uint8_t width, uint64_t nbytes, int32_t index = 0,
                      uint16_t reserved = 0) {
  return Le().u8(device).u8(width).put(reserved, 2).put(static_cast<uint32_t>(index), 4).u64(nbytes);
}
inline Le tensor_head(uint8_t layout, uint8_t dtype, const std::vector<int64_t>& sizes,
                      uint8_t requires_grad) {
  Le r;
  r.u8(layout).u8(dtype).u8(requires_grad).u8(sizes.size());
  for (int64_t s : sizes) r.u64(static_cast<uint64_t>(s));
  return r;
}
inline Le strided_rec(uint8_t dtype, const std::vector<int64_t>& sizes, uint64_t storage, uint64_t offset,
                      uint8_t requires_grad = 0) {
  return tensor_head(0, dtype, sizes, requires_grad).u64(storage).u64(offset);
}
inline Le sparse_rec(uint8_t dtype, const std::vector<int64_t>& sizes, uint8_t coalesced, uint64_t indices,
                     uint64_t values) {
  return tensor_head(1, dtype, sizes, 0).u8(coalesced).u64(indices).u64(values);
}
inline Le tensor_ref(uint64_t i) { return Le().u8(0x06).u64(i); }

// A whole file: header, metadata, 64-byte aligned blobs, a valid trailer.
struct File {
  uint32_t version = 1;
  std::vector<Le> storages, tensors;
  Le tree = Le().u8(0x00);
  std::vector<std::vector<uint8_t>> blobs;

  std::vector<uint8_t> bytes() const {
    Le meta;
    meta.u64(storages.size());
    for (const Le& s : storages) meta.add(s);
    meta.u64(tensors.size());
    for (const Le& t : tensors) meta.add(t);
    meta.add(tree);
    Le f;
    f.raw(
         "\x89"
         "DCKPT\r\n")
        .put(version, 4)
        .put(0, 4)
        .u64(meta.b.size())
        .add(meta);
    for (const auto& blob : blobs) {
      while (f.b.size() % 64 != 0) f.u8(0);
      f.b.insert(f.b.end(), blob.begin(), blob.end());
    }
    while (f.b.size() % 64 != 0) f.u8(0);
    f.b.resize(f.b.size() + 12);
    fix_trailer(f.b);
    return f.b;
  }
};

}  // namespace descent::testing
