// Checkpoint bytes -> Value, treating the input as hostile. The frame and
// checksum are checked first, then every metadata field, the blob layout and
// the value tree — all before a single tensor byte is allocated. Every count
// is checked against the bytes left before anything is reserved, so no
// allocation exceeds the input's size, and parsing is linear in it.
#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <vector>

#include "descent/tensor/ops.h"
#include "optim/checkpoint_format.h"

namespace descent::checkpoint {

namespace {

struct StorageRecord {
  uint64_t at = 0;  // where the record starts, for messages
  Device device;
  std::size_t width = 1;
  uint64_t nbytes = 0;
  uint64_t blob = 0;  // offset of the blob in the input
};

struct TensorRecord {
  uint64_t at = 0;
  LayoutCode layout = LayoutCode::Strided;
  Dtype dtype = kFloat32;
  bool requires_grad = false;
  Shape sizes;
  uint64_t storage = 0, byte_offset = 0;  // strided
  bool coalesced = false;                 // sparse COO
  uint64_t indices = 0, values = 0;
};

uint64_t load_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

std::string hex(uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[v & 0xF]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

class Decoder {
 public:
  Decoder(std::span<const uint8_t> bytes, const char* op, const std::string& source)
      : bytes_(bytes), op_(op), source_(source) {}

  Value run(std::optional<Device> map_location) {
    check_frame();
    read_storage_table();
    read_tensor_table();
    // Handles first, contents later: the tree is fully validated before any
    // tensor memory is allocated.
    shells_.reserve(tensors_.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) shells_.push_back(std::make_shared<TensorImpl>());
    Value root = value(0);
    if (pos_ != end_) fail(pos_, end_ - pos_, " unexpected bytes follow the root value in the metadata");
    build_tensors(map_location);
    return root;
  }

 private:
  template <typename... Parts>
  [[noreturn]] void fail(uint64_t at, const Parts&... parts) const {
    raise<ValueError>(op_, ": ", source_, " is invalid at byte ", at, ": ", parts...);
  }

  // ---- primitives over the metadata block [pos_, end_) ----
  uint64_t left() const { return end_ - pos_; }
  const uint8_t* take(uint64_t n, const char* what) {
    if (n > left())
      fail(pos_, "truncated ", what, " (needs ", n, " bytes, the metadata has ", left(), " left)");
    const uint8_t* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint64_t uint(int n, const char* what) { return load_le(take(static_cast<uint64_t>(n), what), n); }
  uint8_t u8(const char* what) { return static_cast<uint8_t>(uint(1, what)); }
  uint64_t u64(const char* what) { return uint(8, what); }
  int64_t i64(const char* what) { return static_cast<int64_t>(uint(8, what)); }
  // A count of items of at least min_size bytes each, checked before anything is reserved.
  uint64_t count(const char* what, uint64_t min_size) {
    const uint64_t at = pos_;
    const uint64_t n = u64(what);
    if (n > left() / min_size)
      fail(at, what, " ", n, " cannot fit in the ", left(), " bytes left in the metadata");
    return n;
  }
  std::string string(const char* what) {
    const uint64_t n = count(what, 1);
    const uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }

  // ---- frame: header, trailer, checksum ----
  void check_frame() {
    const uint64_t n = bytes_.size();
    if (n == 0 || std::memcmp(bytes_.data(), kMagic.data(), std::min<std::size_t>(n, kMagic.size())) != 0)
      fail(0, "not a descent checkpoint (it does not start with the magic bytes \\x89DCKPT\\r\\n)");
    if (n < kHeaderSize + kTrailerSize)
      fail(n, "truncated: the input has ", n, " bytes, a checkpoint has at least ",
           kHeaderSize + kTrailerSize);
    const uint64_t version = load_le(bytes_.data() + 8, 4);
    if (version == 0 || version > kFormatVersion)
      fail(8, "format version ", version, " is not supported (this build of descent reads versions 1 to ",
           kFormatVersion, "; the file is newer than this build, or corrupted)");
    if (const uint64_t flags = load_le(bytes_.data() + 12, 4); flags != 0)
      fail(12, "header flags ", hex(flags), " are not supported (version ", kFormatVersion, " requires 0)");
    if (const uint64_t total = load_le(bytes_.data() + n - kTrailerSize, 8); total != n)
      fail(n - kTrailerSize, "the trailer records a total length of ", total, " bytes but the input has ", n,
           " (the file is truncated, or has bytes appended)");
    Crc32 crc;
    crc.update(bytes_.data(), n - 4);
    if (const uint64_t stored = load_le(bytes_.data() + n - 4, 4); stored != crc.value())
      fail(n - 4, "checksum mismatch: the trailer records CRC-32 ", hex(stored), " but the content's is ",
           hex(crc.value()), " (the file is corrupted)");
    const uint64_t meta_len = load_le(bytes_.data() + 16, 8);
    data_end_ = n - kTrailerSize;
    if (meta_len > data_end_ - kHeaderSize)
      fail(16, "metadata length ", meta_len, " exceeds the ", data_end_ - kHeaderSize,
           " bytes between header and trailer");
    pos_ = kHeaderSize;
    end_ = kHeaderSize + meta_len;
    data_begin_ = align_up(end_, kBlobAlignment);
    if (data_begin_ > data_end_)
      fail(end_, "the padding after the metadata runs into the trailer (the data section must start at byte ",
           data_begin_, ")");
    check_zero(end_, data_begin_, "padding after the metadata");
  }

  void check_zero(uint64_t from, uint64_t to, const char* what) const {
    for (uint64_t i = from; i < to; ++i)
      if (bytes_[i] != 0) fail(i, what, " holds the byte ", hex(bytes_[i]), " (padding must be zero)");
  }

  // ---- storage table and blobs ----
  void read_storage_table() {
    const uint64_t n = count("storage count", kStorageRecordSize);
    storages_.reserve(n);
    uint64_t blob = data_begin_;
    for (uint64_t i = 0; i < n; ++i) {
      StorageRecord s;
      s.at = pos_;
      const uint8_t device_code = u8("storage record");
      s.width = u8("storage record");
      const uint64_t reserved = uint(2, "storage record");
      const int64_t index = static_cast<int32_t>(uint(4, "storage record"));
      s.nbytes = u64("storage record");
      if (device_code > static_cast<uint8_t>(DeviceCode::Cuda))
        fail(s.at, "storage ", i, ": device type code ", int(device_code), " is unknown (0 = cpu, 1 = cuda)");
      if (s.width != 1 && s.width != 2 && s.width != 4 && s.width != 8)
        fail(s.at + 1, "storage ", i, ": element width ", s.width, " is not 1, 2, 4 or 8");
      if (reserved != 0) fail(s.at + 2, "storage ", i, ": reserved field is ", reserved, " (must be 0)");
      const bool cuda = device_code == static_cast<uint8_t>(DeviceCode::Cuda);
      if (cuda ? index < 0 : index != 0)
        fail(s.at + 4, "storage ", i, ": device index ", index, " is invalid for ",
             cuda ? "cuda (must be >= 0)" : "cpu (must be 0)");
      s.device = Device(cuda ? kCUDA : kCPU, static_cast<int>(index));
      if (s.nbytes > data_end_ - blob)
        fail(s.at + 8, "storage ", i, ": a blob of ", s.nbytes, " bytes at byte ", blob,
             " overruns the data section, which ends at byte ", data_end_);
      s.blob = blob;
      const uint64_t padded = align_up(blob + s.nbytes, kBlobAlignment);
      if (padded > data_end_)
        fail(blob + s.nbytes, "storage ", i, ": the padding after its blob runs into the trailer at byte ",
             data_end_);
      check_zero(blob + s.nbytes, padded, "padding after a storage blob");
      if (s.width == 1)
        for (uint64_t b = blob; b < blob + s.nbytes; ++b)
          if (bytes_[b] > 1)
            fail(b, "storage ", i, " holds bools but this byte is ", int(bytes_[b]), " (must be 0 or 1)");
      blob = padded;
      storages_.push_back(s);
    }
    if (blob != data_end_)
      fail(blob, "the data section has ", data_end_ - blob,
           " bytes after the last storage blob (it must end at the trailer)");
  }

  // ---- tensor table ----
  void read_tensor_table() {
    constexpr uint64_t kMinRecordSize = 20;  // a 0-dim strided tensor
    const uint64_t n = count("tensor count", kMinRecordSize);
    tensors_.reserve(n);
    for (uint64_t i = 0; i < n; ++i) tensors_.push_back(tensor_record(i));
  }

  TensorRecord tensor_record(uint64_t i) {
    TensorRecord t;
    t.at = pos_;
    const uint8_t layout = u8("tensor record"), dtype = u8("tensor record");
    const uint8_t requires_grad = u8("tensor record"), ndim = u8("tensor record");
    if (layout > static_cast<uint8_t>(LayoutCode::SparseCoo))
      fail(t.at, "tensor ", i, ": layout code ", int(layout), " is unknown (0 = strided, 1 = sparse COO)");
    if (dtype >= kDtypeCodes.size())
      fail(t.at + 1, "tensor ", i, ": dtype code ", int(dtype), " is unknown (valid codes are 0..",
           kDtypeCodes.size() - 1, ")");
    t.layout = static_cast<LayoutCode>(layout);
    t.dtype = kDtypeCodes[dtype];
    if (requires_grad > 1)
      fail(t.at + 2, "tensor ", i, ": requires_grad flag is ", int(requires_grad), " (must be 0 or 1)");
    t.requires_grad = requires_grad == 1;
    if (t.requires_grad && !is_floating_point(t.dtype) && !is_complex(t.dtype))
      fail(t.at + 2, "tensor ", i, ": requires_grad is set on a tensor of dtype ", to_string(t.dtype),
           " (only floating point and complex tensors can require gradients)");
    if (ndim > kMaxNdim)
      fail(t.at + 3, "tensor ", i, ": ndim ", int(ndim), " exceeds the limit of ", kMaxNdim);
    t.sizes.reserve(ndim);
    // Every stride (a product of sizes, zeros counted as 1) must fit in int64.
    int64_t span = 1;
    for (int d = 0; d < ndim; ++d) {
      const uint64_t at = pos_;
      const int64_t size = i64("tensor sizes");
      if (size < 0) fail(at, "tensor ", i, ": size ", size, " at dimension ", d, " is negative");
      if (__builtin_mul_overflow(span, std::max<int64_t>(size, 1), &span))
        fail(at, "tensor ", i, ": size ", size, " at dimension ", d,
             " makes the number of elements overflow int64");
      t.sizes.push_back(size);
    }
    if (t.layout == LayoutCode::Strided) {
      strided_record(i, t);
    } else {
      sparse_record(i, t);
    }
    return t;
  }

  void strided_record(uint64_t i, TensorRecord& t) {
    const uint64_t at = pos_;
    t.storage = u64("tensor record");
    t.byte_offset = u64("tensor record");
    if (t.storage >= storages_.size())
      fail(at, "tensor ", i, ": storage index ", t.storage, " is out of range (there are ", storages_.size(),
           " storages)");
    const StorageRecord& s = storages_[t.storage];
    const uint64_t elem = element_size(t.dtype);
    if (component_width(t.dtype) != s.width)
      fail(at, "tensor ", i, ": dtype ", to_string(t.dtype), " has element width ", component_width(t.dtype),
           " but storage ", t.storage, " has width ", s.width);
    if (t.byte_offset % elem != 0)
      fail(at + 8, "tensor ", i, ": byte offset ", t.byte_offset, " is not a multiple of the element size ",
           elem);
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel_of(t.sizes)), elem, &nbytes) ||
        t.byte_offset > s.nbytes || nbytes > s.nbytes - t.byte_offset)
      fail(at + 8, "tensor ", i, " of shape ", shape_to_string(t.sizes), " and dtype ", to_string(t.dtype),
           " needs bytes from offset ", t.byte_offset, " on, but storage ", t.storage, " has ", s.nbytes,
           " bytes");
  }

  void sparse_record(uint64_t i, TensorRecord& t) {
    const uint64_t at = pos_;
    const uint8_t coalesced = u8("sparse tensor record");
    t.indices = u64("sparse tensor record");
    t.values = u64("sparse tensor record");
    if (coalesced > 1) fail(at, "tensor ", i, ": coalesced flag is ", int(coalesced), " (must be 0 or 1)");
    t.coalesced = coalesced == 1;
    for (uint64_t part : {t.indices, t.values})
      if (part >= i || tensors_[part].layout != LayoutCode::Strided)
        fail(at + 1, "tensor ", i,
             ": a sparse tensor's indices and values must be earlier strided tensors, but got tensor ", part);
    const TensorRecord& idx = tensors_[t.indices];
    const TensorRecord& val = tensors_[t.values];
    if (idx.dtype != kInt64 || idx.sizes.size() != 2)
      fail(at + 1, "tensor ", i, ": sparse indices must be an int64 [sparse_dim, nnz] tensor, but tensor ",
           t.indices, " is ", to_string(idx.dtype), " of shape ", shape_to_string(idx.sizes));
    const int64_t sparse_dim = idx.sizes[0], nnz = idx.sizes[1];
    // With sparse dims, every entry has 8 bytes of indices per dim in the file. Without, the
    // entries could take no bytes at all (values of shape [nnz, 0]) and an nnz of 2^62 would
    // cost nothing here and forever in to_dense(); all of them are the same entry anyway.
    if (sparse_dim == 0 && nnz > 1)
      fail(at + 1, "tensor ", i, ": sparse indices tensor ", t.indices, " has shape ", shape_to_string(idx.sizes),
           ": nnz ", nnz, " with sparse_dim 0 (a sparse tensor without sparse dims holds at most one entry, nnz <= 1)");
    const auto ndim = static_cast<int64_t>(t.sizes.size()),
               dense_dim = static_cast<int64_t>(val.sizes.size()) - 1;
    if (dense_dim < 0 || val.sizes[0] != nnz || val.dtype != t.dtype || sparse_dim > ndim ||
        sparse_dim + dense_dim != ndim ||
        !std::equal(val.sizes.begin() + 1, val.sizes.end(), t.sizes.begin() + sparse_dim))
      fail(at + 9, "tensor ", i, ": sparse values tensor ", t.values, " (", to_string(val.dtype), ", shape ",
           shape_to_string(val.sizes), ") does not match ", nnz, " entries of a ", to_string(t.dtype),
           " tensor of shape ", shape_to_string(t.sizes), " with ", sparse_dim, " sparse dims");
    if (storages_[idx.storage].device != storages_[val.storage].device)
      fail(at + 1, "tensor ", i, ": sparse indices and values were saved on different devices");
    // Indices are read from the (already validated) blob; row d, entry j.
    const uint8_t* base = bytes_.data() + storages_[idx.storage].blob + idx.byte_offset;
    auto index = [&](int64_t d, int64_t j) {
      return static_cast<int64_t>(load_le(base + 8 * (d * nnz + j), 8));
    };
    for (int64_t d = 0; d < sparse_dim; ++d)
      for (int64_t j = 0; j < nnz; ++j)
        if (index(d, j) < 0 || index(d, j) >= t.sizes[d])
          fail(at + 1, "tensor ", i, ": sparse index ", index(d, j), " of entry ", j,
               " is out of bounds for dimension ", d, " with size ", t.sizes[d]);
    if (t.coalesced)
      for (int64_t j = 1; j < nnz; ++j) {
        int64_t d = 0;
        while (d < sparse_dim && index(d, j - 1) == index(d, j)) ++d;
        if (d == sparse_dim || index(d, j - 1) > index(d, j))
          fail(at, "tensor ", i, ": flagged coalesced but entries ", j - 1, " and ", j,
               " are not in strictly increasing index order");
      }
  }

  // ---- value tree ----
  Value value(int depth) {
    const uint64_t at = pos_;
    const uint8_t tag = u8("value tag");
    switch (static_cast<Tag>(tag)) {
      case Tag::None:
        return Value();
      case Tag::False:
        return Value(false);
      case Tag::True:
        return Value(true);
      case Tag::Int:
        return Value(i64("int value"));
      case Tag::Float:
        return Value(std::bit_cast<double>(u64("float value")));
      case Tag::Str:
        return Value(string("string length"));
      case Tag::Tensor: {
        const uint64_t index = u64("tensor reference");
        if (index >= shells_.size())
          fail(at, "tensor reference ", index, " is out of range (the tensor table has ", shells_.size(),
               " tensors)");
        return Value(Tensor(shells_[index]));
      }
      case Tag::UndefinedTensor:
        return Value(Tensor());
      case Tag::List:
      case Tag::Tuple: {
        check_depth(at, depth);
        List list{{}, static_cast<Tag>(tag) == Tag::Tuple};
        const uint64_t n = count("list length", 1);
        list.items.reserve(n);
        for (uint64_t k = 0; k < n; ++k) list.items.push_back(value(depth + 1));
        return Value(std::move(list));
      }
      case Tag::Dict:
        return dict(at, depth);
    }
    fail(at, "unknown value tag ", hex(tag));
  }

  Value dict(uint64_t at, int depth) {
    check_depth(at, depth);
    constexpr uint64_t kMinItemSize = 10;  // int key (9 bytes) and None
    const uint64_t n = count("dict length", kMinItemSize);
    // Duplicates are found through the dict's own index, whose hash is keyed
    // at random per process (optim/key_hash.h): crafted keys cannot collide
    // on purpose, so this stays linear in the file size.
    Dict dict;
    for (uint64_t k = 0; k < n; ++k) {
      const uint64_t key_at = pos_;
      const uint8_t tag = u8("dict key tag");
      Key key;
      if (tag == static_cast<uint8_t>(Tag::Int)) {
        key = i64("dict key");
      } else if (tag == static_cast<uint8_t>(Tag::Str)) {
        key = string("dict key length");
      } else {
        fail(key_at, "dict key tag ", hex(tag), " is not int (0x03) or str (0x05)");
      }
      if (dict.contains(key)) fail(key_at, "duplicate dict key ", key_to_string(key));
      Value item = value(depth + 1);
      dict.append_unchecked(std::move(key), std::move(item));
    }
    return Value(std::move(dict));
  }

  void check_depth(uint64_t at, int depth) const {
    if (depth >= kMaxDepth) fail(at, "lists, tuples and dicts nest deeper than ", kMaxDepth, " levels");
  }

  // ---- tensors: allocate, copy, build ----
  void build_tensors(const std::optional<Device>& map_location) {
    std::vector<std::shared_ptr<Storage>> storages;
    storages.reserve(storages_.size());
    for (std::size_t i = 0; i < storages_.size(); ++i) storages.push_back(build_storage(i, map_location));
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const TensorRecord& t = tensors_[i];
      TensorImpl& impl = *shells_[i];
      if (t.layout == LayoutCode::Strided) {
        impl.storage = storages[t.storage];
        impl.offset = static_cast<int64_t>(t.byte_offset / element_size(t.dtype));
        impl.sizes = t.sizes;
        impl.dtype = t.dtype;
      } else {
        Tensor made =
            sparse_coo_tensor(Tensor(shells_[t.indices]), Tensor(shells_[t.values]), t.sizes, t.coalesced);
        impl = std::move(*made.impl());
      }
    }
    // Last, so sparse_coo_tensor above never sees inputs that require grad.
    for (std::size_t i = 0; i < tensors_.size(); ++i)
      if (tensors_[i].requires_grad) Tensor(shells_[i]).requires_grad_(true);
  }

  std::shared_ptr<Storage> build_storage(std::size_t i, const std::optional<Device>& map_location) {
    const StorageRecord& s = storages_[i];
    if (!map_location && s.device.is_cuda() &&
        (!cuda::is_available() || s.device.index >= cuda::device_count()))
      raise<DeviceError>(op_, ": ", source_, ": storage ", i, " (record at byte ", s.at, ") was saved on ",
                         s.device.str(), ", which is not available here (", cuda::device_count(),
                         " CUDA devices); pass map_location, e.g. Device(\"cpu\"), to load it elsewhere");
    const Device device = map_location.value_or(s.device);
    auto storage = std::make_shared<Storage>(static_cast<std::size_t>(s.nbytes), device);
    if (s.nbytes == 0) return storage;
    const uint8_t* src = bytes_.data() + s.blob;
    std::vector<uint8_t> swapped;
    if constexpr (std::endian::native == std::endian::big) {
      swapped.assign(src, src + s.nbytes);
      for (std::size_t b = 0; b < swapped.size(); b += s.width)
        std::reverse(&swapped[b], &swapped[b] + s.width);
      src = swapped.data();
    }
    backend_for(device.type).copy_from_host(storage->data, src, static_cast<std::size_t>(s.nbytes));
    return storage;
  }

  std::span<const uint8_t> bytes_;
  const char* op_;
  const std::string& source_;
  uint64_t pos_ = 0, end_ = 0;              // the metadata block
  uint64_t data_begin_ = 0, data_end_ = 0;  // the data section
  std::vector<StorageRecord> storages_;
  std::vector<TensorRecord> tensors_;
  std::vector<std::shared_ptr<TensorImpl>> shells_;
};

}  // namespace

Value decode(std::span<const uint8_t> bytes, std::optional<Device> map_location, const char* op,
             const std::string& source) {
  return Decoder(bytes, op, source).run(map_location);
}

}  // namespace descent::checkpoint
