// Value -> checkpoint bytes. One walk of the value tree encodes it while
// collecting its tensors and their storages (each once, by identity); then
// header, metadata and storage blobs are streamed into the sink, so tensor
// bytes are never copied into a second whole-file buffer.
#include <algorithm>
#include <bit>
#include <limits>
#include <memory>
#include <unordered_map>
#include <vector>

#include "optim/checkpoint_format.h"

namespace descent::checkpoint {

namespace {

// Little-endian appender for the metadata block.
class Bytes {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { uint_le(v, 2); }
  void u32(uint32_t v) { uint_le(v, 4); }
  void u64(uint64_t v) { uint_le(v, 8); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void tag(Tag t) { u8(static_cast<uint8_t>(t)); }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  const std::vector<uint8_t>& data() const { return out_; }

 private:
  void uint_le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> out_;
};

// Counts and checksums what reaches the sink.
class Output {
 public:
  explicit Output(Sink& sink) : sink_(sink) {}
  void write(const uint8_t* p, std::size_t n) {
    if (n == 0) return;
    crc_.update(p, n);
    sink_.write(p, n);
    count_ += n;
  }
  void write(const Bytes& b) { write(b.data().data(), b.data().size()); }
  void pad(uint64_t alignment) {
    static constexpr std::array<uint8_t, kBlobAlignment> zeros{};
    write(zeros.data(), align_up(count_, alignment) - count_);
  }
  uint64_t count() const { return count_; }
  // The trailer: total length (checksummed), then the checksum itself.
  void finish() {
    Bytes length;
    length.u64(count_ + kTrailerSize);
    write(length);
    Bytes crc;
    crc.u32(crc_.value());
    sink_.write(crc.data().data(), crc.data().size());
  }

 private:
  Sink& sink_;
  Crc32 crc_;
  uint64_t count_ = 0;
};

struct StorageEntry {
  std::shared_ptr<Storage> storage;
  std::size_t width = 0;
  // Byte range spanned by the saved tensors: only that much is written.
  uint64_t lo = std::numeric_limits<uint64_t>::max();
  uint64_t hi = 0;
};

struct TensorEntry {
  Tensor tensor;
  uint64_t storage = 0;              // strided
  uint64_t indices = 0, values = 0;  // sparse COO
};

// Bools are normalised to 0/1 (uninitialised memory between views may hold
// anything); wider elements are byte-swapped on big-endian hosts.
void to_file_order(uint8_t* p, std::size_t n, std::size_t width) {
  if (width == 1) {
    for (std::size_t i = 0; i < n; ++i) p[i] = p[i] != 0;
  } else if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < n; i += width) std::reverse(p + i, p + i + width);
  }
}

void write_blob(Output& out, const StorageEntry& s) {
  const uint64_t n = s.hi - s.lo;
  if (n == 0) return;
  const Storage& st = *s.storage;
  const uint8_t* src = static_cast<const uint8_t*>(st.data) + s.lo;
  const bool rewrite = s.width == 1 || std::endian::native != std::endian::little;
  if (st.device.is_cpu() && !rewrite) {
    out.write(src, n);
    return;
  }
  // Staged through a bounded host buffer, never a copy of the whole blob.
  constexpr uint64_t kChunk = uint64_t{1} << 22;  // a multiple of every width
  std::vector<uint8_t> buffer(static_cast<std::size_t>(std::min(n, kChunk)));
  for (uint64_t done = 0; done < n;) {
    const std::size_t len = static_cast<std::size_t>(std::min(kChunk, n - done));
    if (st.device.is_cpu()) {
      std::copy(src + done, src + done + len, buffer.begin());
    } else {
      backend_for(st.device.type).copy_to_host(buffer.data(), src + done, len);
    }
    to_file_order(buffer.data(), len, s.width);
    out.write(buffer.data(), len);
    done += len;
  }
}

class Encoder {
 public:
  explicit Encoder(const char* op) : op_(op) {}

  void value(const Value& v, int depth) {
    if (v.is_none()) {
      tree_.tag(Tag::None);
    } else if (v.is_bool()) {
      tree_.tag(v.to_bool() ? Tag::True : Tag::False);
    } else if (v.is_int()) {
      tree_.tag(Tag::Int);
      tree_.i64(v.to_int());
    } else if (v.is_double()) {
      tree_.tag(Tag::Float);
      tree_.u64(std::bit_cast<uint64_t>(v.to_double()));
    } else if (v.is_string()) {
      string(v.to_string_value());
    } else if (v.is_tensor()) {
      const Tensor& t = v.to_tensor();
      if (t.defined()) {
        tree_.tag(Tag::Tensor);
        tree_.u64(tensor(t));
      } else {
        tree_.tag(Tag::UndefinedTensor);
      }
    } else if (v.is_list()) {
      check_depth(depth);
      const List& l = v.to_list();
      tree_.tag(l.is_tuple ? Tag::Tuple : Tag::List);
      tree_.u64(l.items.size());
      for (const Value& item : l.items) value(item, depth + 1);
    } else {
      check_depth(depth);
      const Dict& d = v.to_dict();
      tree_.tag(Tag::Dict);
      tree_.u64(d.size());
      for (const auto& [key, item] : d) {
        if (const auto* i = std::get_if<int64_t>(&key)) {
          tree_.tag(Tag::Int);
          tree_.i64(*i);
        } else {
          string(std::get<std::string>(key));
        }
        value(item, depth + 1);
      }
    }
  }

  void write(Sink& sink) {
    for (StorageEntry& s : storages_) {
      if (s.hi == 0) s.lo = 0;
      s.lo -= s.lo % kMaxElementSize;
    }
    Bytes tables;
    storage_table(tables);
    tensor_table(tables);

    Output out(sink);
    Bytes header;
    header.raw(kMagic.data(), kMagic.size());
    header.u32(kFormatVersion);
    header.u32(0);
    header.u64(tables.data().size() + tree_.data().size());
    out.write(header);
    out.write(tables);
    out.write(tree_);
    out.pad(kBlobAlignment);
    for (const StorageEntry& s : storages_) {
      write_blob(out, s);
      out.pad(kBlobAlignment);
    }
    out.finish();
  }

 private:
  void check_depth(int depth) const {
    if (depth >= kMaxDepth)
      raise<ValueError>(op_, ": the value nests lists, tuples and dicts ", depth + 1,
                        " levels deep (the checkpoint format allows at most ", kMaxDepth, ")");
  }

  void string(const std::string& s) {
    tree_.tag(Tag::Str);
    tree_.u64(s.size());
    tree_.raw(s.data(), s.size());
  }

  uint64_t tensor(const Tensor& t) {
    if (auto it = tensor_index_.find(t.unsafe_get_impl()); it != tensor_index_.end()) return it->second;
    if (t.dim() > kMaxNdim)
      raise<ValueError>(op_, ": a tensor of shape ", shape_to_string(t.sizes()), " has ", t.dim(),
                        " dimensions (the checkpoint format allows at most ", kMaxNdim, ")");
    // The format stores dense tensors as contiguous runs of a storage: a strided view is saved as its own copy.
    TensorEntry entry{t.is_sparse() || t.is_contiguous() ? t : t.detach().contiguous()};
    if (t.is_sparse() && t.sparse_dim() == 0 && t._nnz() > 1)
      raise<ValueError>(op_, ": a sparse tensor of shape ", shape_to_string(t.sizes()), " has sparse_dim 0 and nnz ",
                        t._nnz(),
                        " (the checkpoint format allows at most one entry without sparse dims; call coalesce() first)");
    if (t.is_sparse()) {
      entry.indices = tensor(t.unsafe_get_impl()->sparse_indices);
      entry.values = tensor(t.unsafe_get_impl()->sparse_values);
    } else {
      entry.storage = storage(entry.tensor);
    }
    const uint64_t index = tensors_.size();
    tensors_.push_back(std::move(entry));
    tensor_index_.emplace(t.unsafe_get_impl(), index);
    return index;
  }

  uint64_t storage(const Tensor& t) {
    const std::shared_ptr<Storage>& st = t.storage();
    auto [it, inserted] = storage_index_.try_emplace(st.get(), storages_.size());
    if (inserted) storages_.push_back({st, component_width(t.dtype())});
    StorageEntry& s = storages_[it->second];
    // Only complex <-> real views share storage across dtypes; both sides have the same width.
    if (s.width != component_width(t.dtype()))
      raise<RuntimeError>(
          op_, ": a tensor of dtype ", to_string(t.dtype()),
          " shares storage with tensors of a different element width; such storage cannot be saved");
    if (t.numel() > 0) {
      const uint64_t start =
          static_cast<uint64_t>(t.storage_offset()) * static_cast<uint64_t>(t.element_size());
      s.lo = std::min(s.lo, start);
      s.hi = std::max(s.hi, start + static_cast<uint64_t>(t.nbytes()));
    }
    return it->second;
  }

  void storage_table(Bytes& b) const {
    b.u64(storages_.size());
    for (const StorageEntry& s : storages_) {
      const Device d = s.storage->device;
      b.u8(static_cast<uint8_t>(d.is_cpu() ? DeviceCode::Cpu : DeviceCode::Cuda));
      b.u8(static_cast<uint8_t>(s.width));
      b.u16(0);
      b.i32(d.is_cpu() ? 0 : d.index);
      b.u64(s.hi - s.lo);
    }
  }

  void tensor_table(Bytes& b) const {
    b.u64(tensors_.size());
    for (const TensorEntry& e : tensors_) {
      const Tensor& t = e.tensor;
      b.u8(static_cast<uint8_t>(t.is_sparse() ? LayoutCode::SparseCoo : LayoutCode::Strided));
      b.u8(dtype_code(t.dtype()));
      b.u8(t.requires_grad() ? 1 : 0);
      b.u8(static_cast<uint8_t>(t.dim()));
      for (int64_t size : t.sizes()) b.i64(size);
      if (t.is_sparse()) {
        b.u8(t.is_coalesced() ? 1 : 0);
        b.u64(e.indices);
        b.u64(e.values);
      } else {
        const StorageEntry& s = storages_[e.storage];
        const uint64_t start =
            static_cast<uint64_t>(t.storage_offset()) * static_cast<uint64_t>(t.element_size());
        b.u64(e.storage);
        b.u64(t.numel() > 0 ? start - s.lo : 0);
      }
    }
  }

  const char* op_;
  Bytes tree_;
  std::vector<TensorEntry> tensors_;
  std::vector<StorageEntry> storages_;
  std::unordered_map<const TensorImpl*, uint64_t> tensor_index_;
  std::unordered_map<const Storage*, uint64_t> storage_index_;
};

}  // namespace

void encode(const Value& value, Sink& sink, const char* op) {
  Encoder encoder(op);
  encoder.value(value, 0);
  encoder.write(sink);
}

}  // namespace descent::checkpoint
