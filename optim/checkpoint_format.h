#pragma once
// Internal: the constants of the checkpoint format (docs/checkpoint-format.md)
// shared by the encoder (checkpoint_encode.cpp) and the decoder
// (checkpoint_decode.cpp), and the byte sink the encoder streams into.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "descent/optim/value.h"

namespace descent::checkpoint {

inline constexpr std::array<uint8_t, 8> kMagic = {0x89, 'D', 'C', 'K', 'P', 'T', '\r', '\n'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr std::size_t kHeaderSize = 24;   // magic, version, flags, metadata length
inline constexpr std::size_t kTrailerSize = 12;  // total length, CRC-32
inline constexpr std::size_t kBlobAlignment = 64;
inline constexpr std::size_t kStorageRecordSize = 16;
// Blob starts are rounded down to this so every dtype's offset stays aligned.
inline constexpr std::size_t kMaxElementSize = 16;
inline constexpr int kMaxDepth = 64;
inline constexpr int kMaxNdim = 64;

enum class Tag : uint8_t {
  None = 0x00,
  False = 0x01,
  True = 0x02,
  Int = 0x03,
  Float = 0x04,
  Str = 0x05,
  Tensor = 0x06,
  UndefinedTensor = 0x07,
  List = 0x08,
  Tuple = 0x09,
  Dict = 0x0A,
};

enum class DeviceCode : uint8_t { Cpu = 0, Cuda = 1 };
enum class LayoutCode : uint8_t { Strided = 0, SparseCoo = 1 };

// Dtype codes are the positions in this table, fixed by the format (not by
// the order of descent's Dtype enum).
inline constexpr std::array<Dtype, 8> kDtypeCodes = {kBool,    kInt64,   kFloat16,   kBFloat16,
                                                     kFloat32, kFloat64, kComplex64, kComplex128};
uint8_t dtype_code(Dtype dtype);
// Size of the scalar components, the unit of byte order (complex64 -> 4).
std::size_t component_width(Dtype dtype);

inline constexpr uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// CRC-32 (zlib's: reflected 0xEDB88320, init and final XOR 0xFFFFFFFF).
class Crc32 {
 public:
  void update(const uint8_t* data, std::size_t n);
  uint32_t value() const { return ~state_; }

 private:
  uint32_t state_ = 0xFFFFFFFFu;
};

// Where encoded bytes go: a vector (serialize) or a file (save).
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const uint8_t* data, std::size_t n) = 0;
};

class VectorSink final : public Sink {
 public:
  explicit VectorSink(std::vector<uint8_t>& out) : out_(out) {}
  void write(const uint8_t* data, std::size_t n) override { out_.insert(out_.end(), data, data + n); }

 private:
  std::vector<uint8_t>& out_;
};

// Writes the whole checkpoint for value; throws ValueError (limits) before
// the first byte reaches the sink.
void encode(const Value& value, Sink& sink, const char* op);

// op and source name the caller and the input in error messages:
// "load", "checkpoint '/path'".
Value decode(std::span<const uint8_t> bytes, std::optional<Device> map_location, const char* op,
             const std::string& source);

}  // namespace descent::checkpoint
