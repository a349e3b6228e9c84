// Writes the zip container of torch.save files (zip.h): stored entries whose
// data start on 64-byte boundaries, as PyTorch's own writer aligns them.
#include "optim/pytorch/zip.h"

namespace descent::pytorch {

namespace {
constexpr uint64_t kLimit32 = 0xFFFFFFFF;
constexpr uint64_t kAlignment = 64;
// 1980-01-01 00:00 in MS-DOS form: the earliest date zip can hold, so files are reproducible.
constexpr uint16_t kDosDate = (1 << 5) | 1;

struct Bytes {
  std::vector<uint8_t> out;
  void le(uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void str(const std::string& s) { out.insert(out.end(), s.begin(), s.end()); }
};

void check_name(const std::string& name) {
  if (name.empty() || name.size() > 0xFFFF)
    raise<ValueError>("save_pytorch: zip entry name of ", name.size(), " bytes (must be 1 to 65535)");
}
}  // namespace

void ZipWriter::put(const std::vector<uint8_t>& bytes) {
  sink_.write(bytes.data(), bytes.size());
  written_ += bytes.size();
}

void ZipWriter::add(const std::string& name, std::span<const uint8_t> data) {
  check_name(name);
  checkpoint::Crc32 crc;
  crc.update(data.data(), data.size());
  const uint64_t offset = written_, size = data.size();
  const bool zip64 = force_zip64_ || size >= kLimit32;
  Bytes h;
  h.le(0x04034b50, 4);
  h.le(zip64 ? 45 : 20, 2);  // version needed: 4.5 for ZIP64, 2.0 otherwise
  h.le(0, 2);                // flags
  h.le(0, 2);                // method: stored
  h.le(0, 2);
  h.le(kDosDate, 2);
  h.le(crc.value(), 4);
  h.le(zip64 ? kLimit32 : size, 4);
  h.le(zip64 ? kLimit32 : size, 4);
  h.le(name.size(), 2);
  const uint64_t zip64_extra = zip64 ? 20 : 0;
  const uint64_t unpadded = offset + 30 + name.size() + zip64_extra + 4;
  const uint64_t padding = (kAlignment - unpadded % kAlignment) % kAlignment;
  h.le(zip64_extra + 4 + padding, 2);
  h.str(name);
  if (zip64) {
    h.le(0x0001, 2);
    h.le(16, 2);
    h.le(size, 8);
    h.le(size, 8);
  }
  h.le(0x4246, 2);  // "FB": the padding field PyTorch's writer uses
  h.le(padding, 2);
  h.out.resize(h.out.size() + padding, 'Z');
  put(h.out);
  sink_.write(data.data(), data.size());
  written_ += size;
  entries_.push_back({name, offset, size, crc.value()});
}

void ZipWriter::finish() {
  const uint64_t cd_offset = written_;
  for (const Entry& e : entries_) {
    const bool zip64 = force_zip64_ || e.size >= kLimit32 || e.offset >= kLimit32;
    Bytes c;
    c.le(0x02014b50, 4);
    c.le(zip64 ? 45 : 20, 2);  // made by: MS-DOS attributes, spec version
    c.le(zip64 ? 45 : 20, 2);
    c.le(0, 2);
    c.le(0, 2);
    c.le(0, 2);
    c.le(kDosDate, 2);
    c.le(e.crc, 4);
    c.le(zip64 ? kLimit32 : e.size, 4);
    c.le(zip64 ? kLimit32 : e.size, 4);
    c.le(e.name.size(), 2);
    c.le(zip64 ? 28 : 0, 2);
    c.le(0, 2);  // comment
    c.le(0, 2);  // disk
    c.le(0, 2);  // internal attributes
    c.le(0, 4);  // external attributes
    c.le(zip64 ? kLimit32 : e.offset, 4);
    c.str(e.name);
    if (zip64) {
      c.le(0x0001, 2);
      c.le(24, 2);
      c.le(e.size, 8);
      c.le(e.size, 8);
      c.le(e.offset, 8);
    }
    put(c.out);
  }
  const uint64_t cd_size = written_ - cd_offset, count = entries_.size();
  const bool zip64 = force_zip64_ || count >= 0xFFFF || cd_offset >= kLimit32 || cd_size >= kLimit32;
  Bytes end;
  if (zip64) {
    const uint64_t record = written_;
    end.le(0x06064b50, 4);
    end.le(44, 8);  // the record's size after this field
    end.le(45, 2);
    end.le(45, 2);
    end.le(0, 4);
    end.le(0, 4);
    end.le(count, 8);
    end.le(count, 8);
    end.le(cd_size, 8);
    end.le(cd_offset, 8);
    end.le(0x07064b50, 4);
    end.le(0, 4);
    end.le(record, 8);
    end.le(1, 4);
  }
  end.le(0x06054b50, 4);
  end.le(0, 2);
  end.le(0, 2);
  end.le(zip64 ? 0xFFFF : count, 2);
  end.le(zip64 ? 0xFFFF : count, 2);
  end.le(zip64 ? kLimit32 : cd_size, 4);
  end.le(zip64 ? kLimit32 : cd_offset, 4);
  end.le(0, 2);
  put(end.out);
}

}  // namespace descent::pytorch
