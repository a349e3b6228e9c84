// save_pytorch / serialize_pytorch: the tensors of a Value grouped into
// storages (tensors viewing the same memory as the same dtype share one
// storage record, holding just the elements they span), data.pkl written by
// pickler.cpp, and the records zipped as torch.save lays them out.
#include <algorithm>
#include <bit>
#include <map>

#include "descent/optim/pytorch_format.h"
#include "optim/checkpoint_file.h"
#include "optim/pytorch/pickle.h"
#include "optim/pytorch/zip.h"

namespace descent {

namespace {

// torch.save names the folder after the file; torch.load accepts any name.
constexpr const char* kFolder = "archive";
constexpr int kMaxVisitDepth = 65;  // the pickler refuses what nests deeper

class StorageTable {
 public:
  void collect(const Value& v, int depth) {
    if (depth > kMaxVisitDepth) return;
    if (v.is_tensor()) {
      add(v.to_tensor());
    } else if (v.is_list()) {
      for (const Value& item : v.to_list().items) collect(item, depth + 1);
    } else if (v.is_dict()) {
      for (const auto& item : v.to_dict()) collect(item.second, depth + 1);
    }
  }

  pytorch::PickledStorage storage_for(const Tensor& t) const {
    const Group& g = groups_.at(group_key(t));
    return {g.key, g.end - g.begin, t.numel() == 0 ? 0 : t.storage_offset() - g.begin, g.device.str()};
  }

  void write(pytorch::ZipWriter& zip) const {
    std::vector<const Group*> ordered;
    for (const auto& entry : groups_) ordered.push_back(&entry.second);
    std::sort(ordered.begin(), ordered.end(), [](const Group* a, const Group* b) { return a->order < b->order; });
    for (const Group* g : ordered) {
      std::vector<uint8_t> bytes;
      if (g->end > g->begin) {
        auto impl = std::make_shared<TensorImpl>();
        impl->storage = g->storage;
        impl->offset = g->begin;
        impl->sizes = {g->end - g->begin};
        impl->dtype = g->dtype;
        const Tensor host = Tensor(impl).cpu();
        const auto* p = static_cast<const uint8_t*>(host.data_ptr());
        bytes.assign(p, p + host.nbytes());
        // Any non-zero byte is true; PyTorch's bool storages hold 0 and 1.
        if (g->dtype == kBool)
          for (uint8_t& b : bytes) b = b != 0;
      }
      zip.add(std::string(kFolder) + "/data/" + g->key, bytes);
    }
  }

 private:
  struct Group {
    std::string key;
    std::size_t order;
    std::shared_ptr<Storage> storage;
    Dtype dtype;
    Device device;
    int64_t begin, end;  // elements of dtype spanned by the tensors
  };
  // An empty tensor gets a storage of its own (keyed by its impl), as it spans no elements.
  using GroupKey = std::pair<const void*, Dtype>;
  static GroupKey group_key(const Tensor& t) {
    return {t.numel() == 0 ? static_cast<const void*>(t.unsafe_get_impl()) : t.storage().get(), t.dtype()};
  }

  void add(const Tensor& t) {
    if (!t.defined() || t.is_sparse()) return;  // None, or refused by the pickler
    const GroupKey key = group_key(t);
    auto it = groups_.find(key);
    const int64_t begin = t.numel() == 0 ? 0 : t.storage_offset(), end = t.numel() == 0 ? 0 : begin + t.numel();
    if (it == groups_.end()) {
      groups_.emplace(key, Group{std::to_string(groups_.size()), groups_.size(), t.storage(), t.dtype(), t.device(),
                                 begin, end});
    } else {
      it->second.begin = std::min(it->second.begin, begin);
      it->second.end = std::max(it->second.end, end);
    }
  }

  std::map<GroupKey, Group> groups_;
};

void write_archive(const Value& value, checkpoint::Sink& sink) {
  StorageTable table;
  table.collect(value, 0);
  const std::vector<uint8_t> pkl =
      pytorch::pickle(value, [&](const Tensor& t) { return table.storage_for(t); });
  pytorch::ZipWriter zip(sink);
  const std::string dir = std::string(kFolder) + "/";
  zip.add(dir + "data.pkl", pkl);
  const std::string order = std::endian::native == std::endian::little ? "little" : "big";
  zip.add(dir + "byteorder", std::span(reinterpret_cast<const uint8_t*>(order.data()), order.size()));
  table.write(zip);
  const uint8_t version[] = {'3', '\n'};
  zip.add(dir + "version", version);
  zip.finish();
}

}  // namespace

void save_pytorch(const Value& value, const std::filesystem::path& path) {
  checkpoint::write_atomically(path, "save_pytorch", [&](checkpoint::Sink& sink) { write_archive(value, sink); });
}

std::vector<uint8_t> serialize_pytorch(const Value& value) {
  std::vector<uint8_t> out;
  checkpoint::VectorSink sink(out);
  write_archive(value, sink);
  return out;
}

}  // namespace descent
