// The checkpoint format's shared pieces: dtype codes and the CRC-32.
#include "optim/checkpoint_format.h"

#include <algorithm>

namespace descent::checkpoint {

uint8_t dtype_code(Dtype dtype) {
  auto it = std::find(kDtypeCodes.begin(), kDtypeCodes.end(), dtype);
  return static_cast<uint8_t>(it - kDtypeCodes.begin());
}

std::size_t component_width(Dtype dtype) {
  return is_complex(dtype) ? element_size(dtype) / 2 : element_size(dtype);
}

namespace {
// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero
// bytes, so eight input bytes are folded per step. A checkpoint is checksummed
// once per save and load, and at one byte per step the CRC would cost more
// than reading the file.
using Tables = std::array<std::array<uint32_t, 256>, 8>;
constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; ++b)
    for (std::size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
  return t;
}
constexpr Tables kTables = make_tables();

uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
}  // namespace

void Crc32::update(const uint8_t* data, std::size_t n) {
  uint32_t c = state_;
  for (; n >= 8; n -= 8, data += 8) {
    uint32_t lo = c ^ load_le32(data);
    uint32_t hi = load_le32(data + 4);
    c = kTables[7][lo & 0xFFu] ^ kTables[6][(lo >> 8) & 0xFFu] ^ kTables[5][(lo >> 16) & 0xFFu] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xFFu] ^ kTables[2][(hi >> 8) & 0xFFu] ^
        kTables[1][(hi >> 16) & 0xFFu] ^ kTables[0][hi >> 24];
  }
  for (; n > 0; --n, ++data) c = kTables[0][(c ^ *data) & 0xFFu] ^ (c >> 8);
  state_ = c;
}

}  // namespace descent::checkpoint
