// load_pytorch / deserialize_pytorch: a validated zip (zip_reader.cpp), then
// data.pkl through the restricted unpickler (unpickler.cpp), which calls
// back here to turn each _rebuild_tensor_v2 into a descent tensor over the
// archive's storage records.
#include <algorithm>
#include <bit>
#include <map>
#include <memory>

#include "descent/devices/backend.h"
#include "descent/optim/pytorch_format.h"
#include "optim/checkpoint_file.h"
#include "optim/checkpoint_format.h"
#include "optim/pytorch/pickle.h"
#include "optim/pytorch/zip.h"

namespace descent {

namespace {

// The file format versions of PyTorch's reader (its `version` record); torch.save writes 3.
constexpr int64_t kMinVersion = 1, kMaxVersion = 10;

class ArchiveLoader {
 public:
  ArchiveLoader(std::span<const uint8_t> bytes, std::optional<Device> map_location, const char* op,
                std::string source)
      : source_(std::move(source)), op_(op), map_location_(map_location), zip_(bytes, op, source_),
        copy_budget_(4 * static_cast<uint64_t>(bytes.size()) + (uint64_t{1} << 24)) {}

  Value run() {
    const std::string dir = zip_.folder() + "/";
    const auto version = zip_.find(dir + "version");
    if (!version) fail("the archive has no '", dir, "version' record (not a torch.save file?)");
    const std::string v(version->begin(), version->end());
    int64_t n = 0;
    std::size_t digits = 0;
    while (digits < v.size() && digits < 4 && v[digits] >= '0' && v[digits] <= '9') n = n * 10 + (v[digits++] - '0');
    if (digits == 0 || v.substr(digits).find_first_not_of("\n") != std::string::npos || n < kMinVersion ||
        n > kMaxVersion)
      fail("the '", dir, "version' record is not a file format version from ", kMinVersion, " to ", kMaxVersion);
    if (const auto order = zip_.find(dir + "byteorder")) {
      const std::string o(order->begin(), order->end());
      if (o != "little" && o != "big") fail("the byteorder record is '", o, "' (must be 'little' or 'big')");
      swap_ = (o == "little") != (std::endian::native == std::endian::little);
    }
    const auto pkl = zip_.find(dir + "data.pkl");
    if (!pkl) fail("the archive has no '", dir, "data.pkl' record (not a torch.save file?)");
    pytorch::UnpickleContext ctx{op_, source_, [this](const pytorch::TensorArgs& a) { return rebuild(a); },
                                 16 * static_cast<uint64_t>(pkl->size()) + (uint64_t{1} << 20)};
    return pytorch::unpickle(*pkl, ctx);
  }

 private:
  struct Loaded {
    pytorch::StorageRef ref;
    std::span<const uint8_t> bytes;  // in the archive, in the file's byte order
    std::shared_ptr<Storage> storage;
    Device device;
  };

  template <typename... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    raise<ValueError>(op_, ": ", source_, ": ", parts...);
  }
  template <typename... Parts>
  [[noreturn]] void fail_at(const pytorch::TensorArgs& a, const Parts&... parts) const {
    raise<ValueError>(op_, ": ", source_, ": data.pkl byte ", a.at, ": ", parts...);
  }

  Device device_of(const std::string& location, uint64_t at) const {
    if (location != "cpu" && location.rfind("cuda", 0) != 0)
      raise<NotImplementedError>(op_, ": ", source_, ": data.pkl byte ", at, ": storage location '", location,
                                 "' is not supported (descent has cpu and cuda)");
    const Device saved(location);
    if (!map_location_ && saved.is_cuda() && (!cuda::is_available() || saved.index >= cuda::device_count()))
      raise<DeviceError>(op_, ": ", source_, ": a storage was saved on ", saved.str(),
                         ", which is not available here (", cuda::device_count(),
                         " CUDA devices); pass map_location, e.g. Device(\"cpu\"), to load it elsewhere");
    return map_location_.value_or(saved);
  }

  // The file's bytes of a storage in host order.
  std::vector<uint8_t> host_order(std::span<const uint8_t> bytes, Dtype dtype) const {
    std::vector<uint8_t> out(bytes.begin(), bytes.end());
    const std::size_t w = checkpoint::component_width(dtype);
    if (swap_ && w > 1)
      for (std::size_t b = 0; b + w <= out.size(); b += w) std::reverse(&out[b], &out[b] + w);
    return out;
  }

  std::shared_ptr<Storage> upload(const std::vector<uint8_t>& host, Device device) const {
    auto storage = std::make_shared<Storage>(host.size(), device);
    if (!host.empty()) backend_for(device.type).copy_from_host(storage->data, host.data(), host.size());
    return storage;
  }

  Loaded& storage(const pytorch::TensorArgs& a) {
    const pytorch::StorageRef& ref = *a.storage;
    auto it = storages_.find(ref.key);
    if (it != storages_.end()) {
      const pytorch::StorageRef& first = it->second.ref;
      if (first.dtype != ref.dtype || first.numel != ref.numel || first.location != ref.location)
        fail_at(a, "storage '", ref.key, "' is named again as ", ref.numel, " ", ref.dtype, " elements on '",
                ref.location, "' but was ", first.numel, " ", first.dtype, " elements on '", first.location, "'");
      return it->second;
    }
    const std::string record = zip_.folder() + "/data/" + ref.key;
    const auto bytes = zip_.find(record);
    if (!bytes) fail_at(a, "storage '", ref.key, "' has no record '", record, "' in the archive");
    const uint64_t elem = element_size(ref.dtype);
    if (static_cast<uint64_t>(ref.numel) > bytes->size() / elem || bytes->size() != static_cast<uint64_t>(ref.numel) * elem)
      fail_at(a, "storage '", ref.key, "' claims ", ref.numel, " ", ref.dtype, " elements (", elem,
              " bytes each) but its record holds ", bytes->size(), " bytes");
    if (ref.dtype == kBool)
      for (std::size_t b = 0; b < bytes->size(); ++b)
        if ((*bytes)[b] > 1) fail_at(a, "bool storage '", ref.key, "' holds byte ", int((*bytes)[b]), " (must be 0 or 1)");
    Loaded loaded{ref, *bytes, nullptr, device_of(ref.location, a.at)};
    return storages_.emplace(ref.key, std::move(loaded)).first->second;
  }

  Tensor rebuild(const pytorch::TensorArgs& a) {
    Loaded& s = storage(a);
    const Dtype dtype = s.ref.dtype;
    if (a.offset < 0) fail_at(a, "storage offset ", a.offset, " is negative");
    int64_t numel = 1;
    for (std::size_t d = 0; d < a.size.size(); ++d) {
      if (a.size[d] < 0 || a.stride[d] < 0)
        fail_at(a, "size ", shape_to_string(a.size), " and stride ", shape_to_string(a.stride),
                " must be non-negative");
      if (a.size[d] != 0 && numel > INT64_MAX / a.size[d]) fail_at(a, "size ", shape_to_string(a.size), " overflows int64");
      numel *= a.size[d];
    }
    if (numel > 0) {
      // The last element a.offset + sum((size - 1) * stride) must lie in the storage.
      uint64_t last = static_cast<uint64_t>(a.offset);
      bool overflow = false;
      for (std::size_t d = 0; d < a.size.size(); ++d) {
        const uint64_t span = static_cast<uint64_t>(a.size[d] - 1);
        const uint64_t stride = static_cast<uint64_t>(a.stride[d]);
        if (stride != 0 && span > (UINT64_MAX - last) / stride) overflow = true;
        if (!overflow) last += span * stride;
      }
      if (overflow || last >= static_cast<uint64_t>(s.ref.numel))
        fail_at(a, "a tensor of size ", shape_to_string(a.size), ", stride ", shape_to_string(a.stride),
                " and offset ", a.offset, " reaches past the ", s.ref.numel, " elements of storage '", s.ref.key, "'");
    } else if (a.offset > s.ref.numel) {
      fail_at(a, "storage offset ", a.offset, " is past the ", s.ref.numel, " elements of storage '", s.ref.key, "'");
    }
    auto impl = std::make_shared<TensorImpl>();
    impl->sizes = a.size;
    impl->dtype = dtype;
    if (contiguous(a.size, a.stride, numel)) {
      if (!s.storage) s.storage = upload(host_order(s.bytes, dtype), s.device);
      impl->storage = s.storage;
      impl->offset = a.offset;
    } else {
      impl->storage = upload(gather(a, s, numel), s.device);
    }
    Tensor t(impl);
    if (a.requires_grad) {
      if (!t.is_floating_point() && !t.is_complex()) fail_at(a, "a ", dtype, " tensor cannot require grad");
      t.requires_grad_(true);
    }
    return t;
  }

  static bool contiguous(const Shape& size, const Shape& stride, int64_t numel) {
    if (numel == 0) return true;
    int64_t expected = 1;
    for (std::size_t d = size.size(); d-- > 0;) {
      if (size[d] != 1 && stride[d] != expected) return false;
      expected *= size[d];
    }
    return true;
  }

  // A strided view copied into contiguous host bytes, within the copy budget.
  std::vector<uint8_t> gather(const pytorch::TensorArgs& a, const Loaded& s, int64_t numel) {
    const std::size_t elem = element_size(s.ref.dtype);
    if (static_cast<uint64_t>(numel) > copy_budget_ / elem)
      fail_at(a, "copying a strided tensor of size ", shape_to_string(a.size), " and stride ",
              shape_to_string(a.stride), " would exceed the copy budget of ", copy_budget_,
              " bytes (4x the input plus 16 MiB); save it contiguous");
    const uint64_t nbytes = static_cast<uint64_t>(numel) * elem;
    copy_budget_ -= nbytes;
    const std::size_t w = checkpoint::component_width(s.ref.dtype);
    std::vector<uint8_t> out(static_cast<std::size_t>(nbytes));
    Shape index(a.size.size(), 0);
    int64_t at = a.offset;
    for (int64_t i = 0; i < numel; ++i) {
      uint8_t* dst = out.data() + static_cast<std::size_t>(i) * elem;
      std::copy_n(s.bytes.data() + static_cast<std::size_t>(at) * elem, elem, dst);
      if (swap_ && w > 1)
        for (std::size_t b = 0; b < elem; b += w) std::reverse(dst + b, dst + b + w);
      for (std::size_t d = a.size.size(); d-- > 0;) {
        if (++index[d] < a.size[d]) {
          at += a.stride[d];
          break;
        }
        at -= (a.size[d] - 1) * a.stride[d];
        index[d] = 0;
      }
    }
    return out;
  }

  std::string source_;
  const char* op_;
  std::optional<Device> map_location_;
  pytorch::ZipReader zip_;
  uint64_t copy_budget_;
  bool swap_ = false;
  std::map<std::string, Loaded> storages_;
};

}  // namespace

Value load_pytorch(const std::filesystem::path& path, std::optional<Device> map_location) {
  const std::vector<uint8_t> bytes = checkpoint::read_checkpoint_file(path, "load_pytorch");
  return ArchiveLoader(bytes, map_location, "load_pytorch", "file " + checkpoint::quoted_path(path)).run();
}

Value deserialize_pytorch(std::span<const uint8_t> bytes, std::optional<Device> map_location) {
  return ArchiveLoader(bytes, map_location, "deserialize_pytorch", "buffer").run();
}

}  // namespace descent
