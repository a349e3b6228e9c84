// Reads the zip container of torch.save files (zip.h). Every offset and
// length comes from the file, so each is checked against the bytes that are
// there before it is used, and every entry must lie before the central
// directory so entries cannot overlap the records that describe them.
#include <algorithm>

#include "optim/pytorch/zip.h"

namespace descent::pytorch {

namespace {
constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr std::size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22, kEnd64Size = 56, kLocator64Size = 20;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kSaturated32 = 0xFFFFFFFF;
constexpr uint16_t kSaturated16 = 0xFFFF;
}  // namespace

void ZipReader::fail(uint64_t at, const std::string& what) const {
  raise<ValueError>(op_, ": ", source_, ": zip: byte ", at, ": ", what);
}

uint64_t ZipReader::uint(uint64_t at, int width, const char* what) const {
  if (at > bytes_.size() || bytes_.size() - at < static_cast<uint64_t>(width))
    fail(at, detail::concat("truncated: the ", what, " needs ", width, " bytes but the input has ", bytes_.size(),
                            " bytes"));
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | bytes_[at + static_cast<uint64_t>(i)];
  return v;
}

ZipReader::ZipReader(std::span<const uint8_t> bytes, const char* op, const std::string& source)
    : bytes_(bytes), op_(op), source_(source) {
  if (bytes.size() < kEndSize)
    fail(0, detail::concat("truncated: ", bytes.size(), " bytes cannot hold the ", kEndSize,
                           "-byte end of central directory record (not a torch.save file?)"));
  // The end record is the last one whose comment runs exactly to the end of the input.
  uint64_t end = bytes.size() - kEndSize;
  const uint64_t lowest = end > 0xFFFF ? end - 0xFFFF : 0;
  while (!(uint(end, 4, "end record") == kEndSig && uint(end + 20, 2, "end record") == bytes.size() - end - kEndSize)) {
    if (end == lowest)
      fail(bytes.size(), "no end of central directory record: the input is not a zip archive, or it is truncated");
    --end;
  }
  uint64_t disk = uint(end + 4, 2, "end record"), cd_disk = uint(end + 6, 2, "end record");
  uint64_t disk_entries = uint(end + 8, 2, "end record"), entries = uint(end + 10, 2, "end record");
  uint64_t cd_size = uint(end + 12, 4, "end record"), cd_offset = uint(end + 16, 4, "end record");
  uint64_t cd_limit = end;  // the central directory ends where the next record starts
  if (end >= kLocator64Size && uint(end - kLocator64Size, 4, "ZIP64 locator") == kLocator64Sig) {
    const uint64_t loc = end - kLocator64Size;
    const uint64_t record = uint(loc + 8, 8, "ZIP64 locator");
    if (uint(loc + 4, 4, "ZIP64 locator") != 0 || uint(loc + 16, 4, "ZIP64 locator") != 1)
      fail(loc, "the ZIP64 locator names another disk (multi-disk archives are not supported)");
    if (record > loc || loc - record < kEnd64Size)
      fail(loc + 8, detail::concat("the ZIP64 end record offset ", record, " does not leave its ", kEnd64Size,
                                   " bytes before the locator at byte ", loc));
    if (uint(record, 4, "ZIP64 end record") != kEnd64Sig) fail(record, "bad ZIP64 end record signature");
    disk = uint(record + 16, 4, "ZIP64 end record");
    cd_disk = uint(record + 20, 4, "ZIP64 end record");
    disk_entries = uint(record + 24, 8, "ZIP64 end record");
    entries = uint(record + 32, 8, "ZIP64 end record");
    cd_size = uint(record + 40, 8, "ZIP64 end record");
    cd_offset = uint(record + 48, 8, "ZIP64 end record");
    cd_limit = record;
  } else if (entries == kSaturated16 || cd_size == kSaturated32 || cd_offset == kSaturated32) {
    fail(end, "the end record has saturated fields but no ZIP64 locator precedes it");
  }
  if (disk != 0 || cd_disk != 0 || disk_entries != entries)
    fail(end + 4, "the archive spans several disks (not supported)");
  if (cd_offset > cd_limit || cd_limit - cd_offset < cd_size)
    fail(end + 12, detail::concat("the central directory (", cd_size, " bytes at byte ", cd_offset,
                                  ") does not fit before the end records at byte ", cd_limit));
  if (entries > cd_size / kCentralSize)
    fail(end + 10, detail::concat(entries, " entries cannot fit in a central directory of ", cd_size, " bytes"));
  entries_limit_ = cd_offset;
  uint64_t at = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  entries_.reserve(static_cast<std::size_t>(entries));
  for (uint64_t i = 0; i < entries; ++i) read_entry(at, cd_end);
  if (at != cd_end)
    fail(at, detail::concat("the central directory has ", cd_end - at, " bytes after its ", entries, " entries"));
  if (entries_.empty()) fail(cd_offset, "the archive is empty");
  const std::string& first = entries_.front().name;
  const std::size_t slash = first.find('/');
  if (slash == std::string::npos || slash == 0)
    fail(cd_offset, "the first entry '" + first + "' is not inside a folder (torch.save writes '<name>/data.pkl')");
  folder_ = first.substr(0, slash);
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < entries_.size(); ++i)
    if (entries_[i].name == entries_[i - 1].name)
      fail(cd_offset, "two entries are named '" + entries_[i].name + "'");
}

void ZipReader::read_entry(uint64_t& at, uint64_t cd_end) {
  const uint64_t start = at;
  if (cd_end - at < kCentralSize) fail(at, "a central directory entry runs past the central directory");
  if (uint(at, 4, "central entry") != kCentralSig) fail(at, "bad central directory entry signature");
  const uint64_t flags = uint(at + 8, 2, "central entry"), method = uint(at + 10, 2, "central entry");
  const uint64_t crc = uint(at + 16, 4, "central entry");
  uint64_t packed = uint(at + 20, 4, "central entry"), size = uint(at + 24, 4, "central entry");
  const uint64_t name_len = uint(at + 28, 2, "central entry"), extra_len = uint(at + 30, 2, "central entry");
  const uint64_t comment_len = uint(at + 32, 2, "central entry");
  uint64_t disk = uint(at + 34, 2, "central entry"), local = uint(at + 42, 4, "central entry");
  at += kCentralSize;
  if (cd_end - at < name_len + extra_len + comment_len)
    fail(start, "a central directory entry's name, extra field and comment run past the central directory");
  std::string name(reinterpret_cast<const char*>(bytes_.data() + at), static_cast<std::size_t>(name_len));
  const uint64_t extra = at + name_len;
  at = extra + extra_len + comment_len;
  // The ZIP64 extra field holds, in this order, the fields saturated above.
  uint64_t* wide[] = {&size, &packed, &local};
  bool need[] = {size == kSaturated32, packed == kSaturated32, local == kSaturated32};
  for (uint64_t e = extra; e < extra + extra_len;) {
    if (extra + extra_len - e < 4) fail(e, "entry '" + name + "': a truncated extra field");
    const uint64_t id = uint(e, 2, "extra field"), len = uint(e + 2, 2, "extra field");
    e += 4;
    if (extra + extra_len - e < len) fail(e, "entry '" + name + "': an extra field runs past its entry");
    if (id == kZip64ExtraId) {
      uint64_t f = e;
      for (int k = 0; k < 3; ++k) {
        if (!need[k]) continue;
        if (f + 8 > e + len) fail(f, "entry '" + name + "': the ZIP64 extra field is too short");
        *wide[k] = uint(f, 8, "ZIP64 extra field");
        need[k] = false;
        f += 8;
      }
      if (disk == kSaturated16 && f + 4 <= e + len) disk = uint(f, 4, "ZIP64 extra field");
    }
    e += len;
  }
  if (need[0] || need[1] || need[2]) fail(start, "entry '" + name + "' has saturated sizes but no ZIP64 extra field");
  if (flags & 0x41)
    raise<NotImplementedError>(op_, ": ", source_, ": zip: entry '", name,
                               "' is encrypted; torch.save archives are not, and encryption is not supported");
  if (method != 0)
    raise<NotImplementedError>(op_, ": ", source_, ": zip: entry '", name, "' is compressed (method ", method,
                               "); torch.save stores entries uncompressed, and only stored entries are supported");
  if (disk != 0) fail(start + 34, "entry '" + name + "' is on another disk (multi-disk archives are not supported)");
  if (packed != size)
    fail(start + 20, detail::concat("stored entry '", name, "' has compressed size ", packed,
                                    " but uncompressed size ", size));
  if (name.empty() || name.find('\0') != std::string::npos) fail(start + 46, "an entry name is empty or holds NUL");
  // The local header repeats the name; the data follows it and must end before the central directory.
  if (uint(local, 4, "local header") != kLocalSig)
    fail(local, "entry '" + name + "': bad local header signature");
  const uint64_t local_method = uint(local + 8, 2, "local header");
  const uint64_t local_name = uint(local + 26, 2, "local header"), local_extra = uint(local + 28, 2, "local header");
  if (local_method != method) fail(local + 8, "entry '" + name + "': local and central headers disagree on the method");
  const uint64_t data = local + kLocalSize + local_name + local_extra;
  if (local_name != name_len || data > bytes_.size() ||
      !std::equal(name.begin(), name.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(local + kLocalSize)))
    fail(local + 26, "entry '" + name + "': the local header's name differs from the central directory's");
  if (data > entries_limit_ || entries_limit_ - data < size)
    fail(data, detail::concat("entry '", name, "': its ", size, " bytes at byte ", data,
                              " run into the central directory at byte ", entries_limit_));
  checkpoint::Crc32 check;
  check.update(bytes_.data() + data, static_cast<std::size_t>(size));
  if (check.value() != crc)
    fail(data, detail::concat("entry '", name, "': CRC-32 mismatch (the file is corrupted)"));
  entries_.push_back({std::move(name), data, size});
}

std::optional<std::span<const uint8_t>> ZipReader::find(const std::string& name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const Entry& e, const std::string& n) { return e.name < n; });
  if (it == entries_.end() || it->name != name) return std::nullopt;
  return bytes_.subspan(static_cast<std::size_t>(it->data), static_cast<std::size_t>(it->size));
}

}  // namespace descent::pytorch
