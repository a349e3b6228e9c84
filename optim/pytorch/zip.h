#pragma once
// Internal: the zip container of torch.save files (PyTorch >= 1.6). Only
// what torch.save writes is supported: stored (uncompressed), unencrypted,
// single-disk archives, with ZIP64 records where sizes or offsets need them.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "optim/checkpoint_format.h"

namespace descent::pytorch {

// A validated archive held in memory. The constructor checks the end of
// central directory (and its ZIP64 form), every central directory entry,
// its local header and the CRC-32 of its bytes, so find() never fails.
// Errors are ValueError ("<op>: <source>: zip: ..."), or NotImplementedError
// for a compressed or encrypted entry.
class ZipReader {
 public:
  ZipReader(std::span<const uint8_t> bytes, const char* op, const std::string& source);
  // The bytes of the entry named exactly name, or nullopt.
  std::optional<std::span<const uint8_t>> find(const std::string& name) const;
  // The first entry's name up to its first '/': torch.save's archive folder.
  const std::string& folder() const { return folder_; }

 private:
  struct Entry {
    std::string name;
    uint64_t data = 0, size = 0;
  };
  [[noreturn]] void fail(uint64_t at, const std::string& what) const;
  uint64_t uint(uint64_t at, int width, const char* what) const;
  void read_entry(uint64_t& at, uint64_t central_end);

  std::span<const uint8_t> bytes_;
  const char* op_;
  const std::string& source_;
  std::vector<Entry> entries_;  // sorted by name once read
  std::string folder_;
  uint64_t entries_limit_ = 0;  // entries' data must end here: the central directory's start
};

// Writes a stored archive into a sink, as torch.save does: each entry's data
// starts at a multiple of 64 bytes (padding in the local header's extra
// field), and ZIP64 records appear where a size, offset or the entry count
// does not fit the classic fields, or always with force_zip64 (for tests).
class ZipWriter {
 public:
  explicit ZipWriter(checkpoint::Sink& sink, bool force_zip64 = false) : sink_(sink), force_zip64_(force_zip64) {}
  void add(const std::string& name, std::span<const uint8_t> data);
  // Writes the central directory; the archive is complete after this.
  void finish();

 private:
  struct Entry {
    std::string name;
    uint64_t offset, size;
    uint32_t crc;
  };
  void put(const std::vector<uint8_t>& bytes);

  checkpoint::Sink& sink_;
  bool force_zip64_;
  uint64_t written_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace descent::pytorch
