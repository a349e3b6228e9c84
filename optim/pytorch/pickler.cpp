// The writing half of pickle.h: the opcodes Python's pickler emits at
// protocol 2 for the same objects (dicts by SETITEMS, lists by APPENDS,
// tensors by a reduce of torch._utils._rebuild_tensor_v2 over a persistent
// storage id), so torch.load(weights_only=True) reads the result.
#include <bit>
#include <unordered_map>

#include "optim/pytorch/pickle.h"
#include "optim/pytorch/utf8.h"

namespace descent::pytorch {

namespace {

constexpr int kMaxDepth = 64;
constexpr std::size_t kBatch = 1000;  // Python's pickler batches APPENDS/SETITEMS by this

class Pickler {
 public:
  explicit Pickler(const std::function<PickledStorage(const Tensor&)>& storage_for) : storage_for_(storage_for) {}

  std::vector<uint8_t> run(const Value& value) {
    byte(0x80);
    byte(2);
    write(value, 0);
    byte('.');
    return std::move(out_);
  }

 private:
  void byte(uint8_t b) { out_.push_back(b); }
  void le(uint64_t v, int width) {
    for (int i = 0; i < width; ++i) byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void memo_put() {
    const uint64_t idx = memo_count_++;
    if (idx < 256) {
      byte('q');
      le(idx, 1);
    } else {
      byte('r');
      le(idx, 4);
    }
  }
  void memo_get(uint64_t idx) {
    if (idx < 256) {
      byte('h');
      le(idx, 1);
    } else {
      byte('j');
      le(idx, 4);
    }
  }

  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      byte('K');
      le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      byte('M');
      le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      byte('J');
      le(static_cast<uint64_t>(v), 4);
    } else {
      // LONG1: the shortest little-endian two's complement form.
      int n = 8;
      while (n > 1) {
        const int64_t top = v >> (8 * (n - 1) - 1);  // the sign bit of the shorter form and above
        if (top != 0 && top != -1) break;
        --n;
      }
      byte(0x8a);
      le(static_cast<uint64_t>(n), 1);
      le(static_cast<uint64_t>(v), n);
    }
  }

  void string(const std::string& s) {
    if (!utf8_valid(s))
      raise<ValueError>("save_pytorch: the string '", s, "' is not valid UTF-8 (Python strings are text)");
    if (s.size() > UINT32_MAX) raise<ValueError>("save_pytorch: a string of ", s.size(), " bytes is over 4 GiB");
    byte('X');
    le(s.size(), 4);
    out_.insert(out_.end(), s.begin(), s.end());
  }

  // Globals are memoized like Python's pickler does, so each name appears once.
  void global(const std::string& module, const std::string& name) {
    const std::string full = module + "\n" + name + "\n";
    auto it = globals_.find(full);
    if (it != globals_.end()) return memo_get(it->second);
    byte('c');
    out_.insert(out_.end(), full.begin(), full.end());
    globals_.emplace(full, memo_count_);
    memo_put();
  }

  void tuple_of(const Shape& v) {
    if (v.empty()) return byte(')');
    if (v.size() > 3) byte('(');
    for (int64_t x : v) integer(x);
    byte(v.size() == 1 ? 0x85 : v.size() == 2 ? 0x86 : v.size() == 3 ? 0x87 : 't');
  }

  void empty_ordered_dict() {
    global("collections", "OrderedDict");
    byte(')');
    byte('R');
  }

  void tensor(const Tensor& t) {
    if (!t.defined()) return byte('N');  // an undefined tensor is Python's None
    if (t.is_sparse())
      raise<NotImplementedError>("save_pytorch: sparse tensors are not supported (save t.to_dense(), or descent's "
                                 "own format with descent::save)");
    auto it = tensors_.find(t.unsafe_get_impl());
    if (it != tensors_.end()) return memo_get(it->second);
    const PickledStorage s = storage_for_(t);
    global("torch._utils", "_rebuild_tensor_v2");
    byte('(');
    byte('(');
    string("storage");
    global("torch", storage_type_name(t.dtype()));
    string(s.key);
    string(s.location);
    integer(s.numel);
    byte('t');
    byte('Q');
    integer(s.offset);
    tuple_of(t.sizes());
    tuple_of(t.strides());
    byte(t.requires_grad() ? 0x88 : 0x89);
    empty_ordered_dict();
    byte('t');
    byte('R');
    tensors_.emplace(t.unsafe_get_impl(), memo_count_);
    memo_put();
  }

  void write(const Value& v, int depth) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            byte('N');
          } else if constexpr (std::is_same_v<T, bool>) {
            byte(x ? 0x88 : 0x89);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            integer(x);
          } else if constexpr (std::is_same_v<T, double>) {
            byte('G');
            const uint64_t bits = std::bit_cast<uint64_t>(x);
            for (int i = 7; i >= 0; --i) byte(static_cast<uint8_t>(bits >> (8 * i)));  // big-endian
          } else if constexpr (std::is_same_v<T, std::string>) {
            string(x);
          } else if constexpr (std::is_same_v<T, Tensor>) {
            tensor(x);
          } else if constexpr (std::is_same_v<T, List>) {
            check_depth(depth);
            if (x.is_tuple) {
              if (x.items.empty()) return byte(')');
              byte('(');
              for (const Value& item : x.items) write(item, depth + 1);
              return byte('t');
            }
            byte(']');
            for (std::size_t i = 0; i < x.items.size(); i += kBatch) {
              byte('(');
              for (std::size_t k = i; k < std::min(x.items.size(), i + kBatch); ++k) write(x.items[k], depth + 1);
              byte('e');
            }
          } else {
            check_depth(depth);
            byte('}');
            for (auto it = x.begin(); it != x.end();) {
              byte('(');
              for (std::size_t k = 0; k < kBatch && it != x.end(); ++k, ++it) {
                if (const auto* i = std::get_if<int64_t>(&it->first)) {
                  integer(*i);
                } else {
                  string(std::get<std::string>(it->first));
                }
                write(it->second, depth + 1);
              }
              byte('u');
            }
          }
        },
        v.storage());
  }

  static void check_depth(int depth) {
    if (depth >= kMaxDepth)
      raise<ValueError>("save_pytorch: lists, tuples and dicts nest deeper than ", kMaxDepth,
                        " levels (load_pytorch would refuse the file)");
  }

  const std::function<PickledStorage(const Tensor&)>& storage_for_;
  std::vector<uint8_t> out_;
  uint64_t memo_count_ = 0;
  std::unordered_map<std::string, uint64_t> globals_;
  std::unordered_map<const TensorImpl*, uint64_t> tensors_;
};

}  // namespace

std::vector<uint8_t> pickle(const Value& value, const std::function<PickledStorage(const Tensor&)>& storage_for) {
  return Pickler(storage_for).run(value);
}

}  // namespace descent::pytorch
