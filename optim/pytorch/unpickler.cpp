// The reading half of pickle.h. Objects live in an arena and refer to each
// other by index, so a crafted pickle can build cycles or deep chains without
// recursive destruction or leaks; the conversion to Value at the end bounds
// depth (which also stops cycles) and total work.
#include <bit>
#include <cstring>
#include <unordered_map>

#include "optim/pytorch/pickle.h"
#include "optim/pytorch/utf8.h"

namespace descent::pytorch {

namespace {

constexpr int kMaxDepth = 64;
constexpr int kMaxNdim = 64;

enum class Kind : uint8_t { None, Bool, Int, Float, Str, Tensor, List, Tuple, Dict, Global, Storage };
enum class Global : uint8_t { RebuildTensorV2, RebuildParameter, OrderedDict, Storage };

// i is the value of a Bool or Int, or an index into the side table of the kind.
struct Obj {
  Kind kind;
  bool ordered = false;  // a Dict made by collections.OrderedDict()
  Global global = Global::OrderedDict;
  Dtype dtype = kFloat32;  // of a Global::Storage type
  union {
    int64_t i;
    double f;
  };
};

class Unpickler {
 public:
  Unpickler(std::span<const uint8_t> bytes, const UnpickleContext& ctx) : bytes_(bytes), ctx_(ctx) {}

  Value run() {
    while (true) {
      at_ = pos_;
      const uint8_t op = take(1, "opcode")[0];
      if (op == '.') break;
      step(op);
    }
    if (pos_ != bytes_.size()) fail(pos_, bytes_.size() - pos_, " bytes after the STOP opcode");
    if (!marks_.empty()) fail(at_, "STOP with an open MARK");
    if (stack_.size() != 1) fail(at_, "STOP with ", stack_.size(), " objects on the stack (must be 1)");
    return to_value(stack_.back(), 0);
  }

 private:
  template <typename... Parts>
  [[noreturn]] void fail(uint64_t at, const Parts&... parts) const {
    raise<ValueError>(ctx_.op, ": ", ctx_.source, ": data.pkl byte ", at, ": ", parts...);
  }

  std::span<const uint8_t> take(uint64_t n, const char* what) {
    if (bytes_.size() - pos_ < n)
      fail(at_, "truncated: the ", what, " needs ", n, " bytes but only ", bytes_.size() - pos_, " remain");
    const auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t le(int width, const char* what) {
    const auto b = take(static_cast<uint64_t>(width), what);
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | b[static_cast<std::size_t>(i)];
    return v;
  }

  uint32_t make(Kind kind, int64_t i = 0) {
    Obj o{kind};
    o.i = i;
    objs_.push_back(o);
    return static_cast<uint32_t>(objs_.size() - 1);
  }
  uint32_t make_global(Global g, Dtype dtype = kFloat32) {
    const uint32_t h = make(Kind::Global);
    objs_[h].global = g;
    objs_[h].dtype = dtype;
    return h;
  }
  void charge(uint64_t work) {
    work_ += work;
    if (work_ > ctx_.budget)
      fail(at_, "the object graph expands past ", ctx_.budget, " objects and string bytes (shared objects are copied)");
  }
  uint32_t make_container(Kind kind, std::vector<uint32_t> items = {}) {
    containers_.push_back(std::move(items));
    return make(kind, static_cast<int64_t>(containers_.size() - 1));
  }
  uint32_t make_str(std::string s) {
    if (!utf8_valid(s)) fail(at_, "a string is not valid UTF-8");
    strings_.push_back(std::move(s));
    return make(Kind::Str, static_cast<int64_t>(strings_.size() - 1));
  }
  uint32_t make_float(double f) {
    Obj o{Kind::Float};
    o.f = f;
    objs_.push_back(o);
    return static_cast<uint32_t>(objs_.size() - 1);
  }

  uint32_t pop(const char* what) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back()))
      fail(at_, what, " needs an object but the stack is empty");
    const uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t top(const char* what) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back()))
      fail(at_, what, " needs an object but the stack is empty");
    return stack_.back();
  }
  std::vector<uint32_t> pop_mark(const char* what) {
    if (marks_.empty()) fail(at_, what, " without a MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  std::vector<uint32_t>& container(uint32_t h, Kind kind, const char* what) {
    if (objs_[h].kind != kind) fail(at_, what, " applies to a ", kind_name(h));
    return containers_[static_cast<std::size_t>(objs_[h].i)];
  }
  void set_items(uint32_t dict, const std::vector<uint32_t>& kv, const char* what) {
    if (kv.size() % 2 != 0) fail(at_, what, " with an odd number of objects (keys and values pair up)");
    auto& items = container(dict, Kind::Dict, what);
    items.insert(items.end(), kv.begin(), kv.end());
  }

  std::string kind_name(uint32_t h) const {
    static const char* names[] = {"None", "bool", "int", "float", "str", "Tensor", "list", "tuple", "dict",
                                  "global", "storage"};
    return names[static_cast<int>(objs_[h].kind)];
  }

  std::string line(const char* what) {
    const uint64_t limit = std::min<uint64_t>(bytes_.size(), pos_ + 256);
    for (uint64_t e = pos_; e < limit; ++e)
      if (bytes_[e] == '\n') {
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), e - pos_);
        pos_ = e + 1;
        return s;
      }
    fail(at_, "the ", what, " of a GLOBAL has no newline within 256 bytes");
  }

  int64_t read_long(uint64_t n) {
    if (n > 8) fail(at_, "an integer of ", n, " bytes does not fit in int64");
    const auto b = take(n, "LONG");
    uint64_t v = 0;
    for (uint64_t i = n; i-- > 0;) v = (v << 8) | b[i];
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }

  void step(uint8_t op);
  void global(const std::string& module, const std::string& name);
  void reduce();
  void persistent_id();
  Tensor rebuild_tensor(const std::vector<uint32_t>& args);
  Shape int_tuple(uint32_t h, const char* what);
  bool empty_ordered_dict(uint32_t h) const;
  Value to_value(uint32_t h, int depth);
  Key to_key(uint32_t h);

  std::span<const uint8_t> bytes_;
  const UnpickleContext& ctx_;
  uint64_t pos_ = 0, at_ = 0;
  std::vector<Obj> objs_;
  std::vector<std::vector<uint32_t>> containers_;
  std::vector<std::string> strings_;
  std::vector<Tensor> tensors_;
  std::vector<StorageRef> storages_;
  std::vector<uint32_t> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  uint64_t work_ = 0;
};

void Unpickler::step(uint8_t op) {
  switch (op) {
    case 0x80: {  // PROTO
      const uint8_t proto = take(1, "protocol")[0];
      if (proto < 2 || proto > 5) fail(at_, "pickle protocol ", int(proto), " (torch.save writes 2; 2 to 5 are read)");
      return;
    }
    case 0x95: take(8, "FRAME length"); return;  // FRAME: a hint for buffered readers
    case '(': marks_.push_back(stack_.size()); return;
    case '0': pop("POP"); return;
    case '1': pop_mark("POP_MARK"); return;
    case '2': stack_.push_back(top("DUP")); return;
    case 'N': stack_.push_back(make(Kind::None)); return;
    case 0x88: stack_.push_back(make(Kind::Bool, 1)); return;
    case 0x89: stack_.push_back(make(Kind::Bool, 0)); return;
    case 'K': stack_.push_back(make(Kind::Int, static_cast<int64_t>(le(1, "BININT1")))); return;
    case 'M': stack_.push_back(make(Kind::Int, static_cast<int64_t>(le(2, "BININT2")))); return;
    case 'J': stack_.push_back(make(Kind::Int, static_cast<int32_t>(le(4, "BININT")))); return;
    case 0x8a: stack_.push_back(make(Kind::Int, read_long(le(1, "LONG1 length")))); return;
    case 0x8b: stack_.push_back(make(Kind::Int, read_long(le(4, "LONG4 length")))); return;
    case 'G': {
      const auto b = take(8, "BINFLOAT");
      uint64_t bits = 0;
      for (uint8_t c : b) bits = (bits << 8) | c;  // big-endian
      stack_.push_back(make_float(std::bit_cast<double>(bits)));
      return;
    }
    case 'X':
    case 0x8c:
    case 0x8d: {  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
      const uint64_t n = op == 'X' ? le(4, "BINUNICODE length") : op == 0x8c ? le(1, "SHORT_BINUNICODE length")
                                                                             : le(8, "BINUNICODE8 length");
      const auto b = take(n, "string");
      stack_.push_back(make_str(std::string(reinterpret_cast<const char*>(b.data()), b.size())));
      return;
    }
    case ']': stack_.push_back(make_container(Kind::List)); return;
    case 'l': stack_.push_back(make_container(Kind::List, pop_mark("LIST"))); return;
    case ')': stack_.push_back(make_container(Kind::Tuple)); return;
    case 't': stack_.push_back(make_container(Kind::Tuple, pop_mark("TUPLE"))); return;
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1-3
      std::vector<uint32_t> items(static_cast<std::size_t>(op - 0x84));
      for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop("TUPLE1/2/3");
      stack_.push_back(make_container(Kind::Tuple, std::move(items)));
      return;
    }
    case '}': stack_.push_back(make_container(Kind::Dict)); return;
    case 'd': {
      const std::vector<uint32_t> kv = pop_mark("DICT");
      stack_.push_back(make_container(Kind::Dict));
      set_items(stack_.back(), kv, "DICT");
      return;
    }
    case 'a': {
      const uint32_t v = pop("APPEND");
      container(top("APPEND"), Kind::List, "APPEND").push_back(v);
      return;
    }
    case 'e': {
      const std::vector<uint32_t> items = pop_mark("APPENDS");
      auto& list = container(top("APPENDS"), Kind::List, "APPENDS");
      list.insert(list.end(), items.begin(), items.end());
      return;
    }
    case 's': {
      const uint32_t v = pop("SETITEM"), k = pop("SETITEM");
      set_items(top("SETITEM"), {k, v}, "SETITEM");
      return;
    }
    case 'u': {
      const std::vector<uint32_t> kv = pop_mark("SETITEMS");
      set_items(top("SETITEMS"), kv, "SETITEMS");
      return;
    }
    case 'h': case 'j': {  // BINGET, LONG_BINGET
      const uint64_t idx = op == 'h' ? le(1, "BINGET index") : le(4, "LONG_BINGET index");
      auto it = memo_.find(idx);
      if (it == memo_.end()) fail(at_, "memo index ", idx, " was never stored (BINGET before BINPUT)");
      stack_.push_back(it->second);
      return;
    }
    case 'q': case 'r': {  // BINPUT, LONG_BINPUT
      const uint64_t idx = op == 'q' ? le(1, "BINPUT index") : le(4, "LONG_BINPUT index");
      memo_[idx] = top("BINPUT");
      return;
    }
    case 0x94: memo_[memo_.size()] = top("MEMOIZE"); return;
    case 'c': {
      const std::string module = line("module");
      global(module, line("name"));
      return;
    }
    case 0x93: {  // STACK_GLOBAL
      const uint32_t name = pop("STACK_GLOBAL"), module = pop("STACK_GLOBAL");
      if (objs_[name].kind != Kind::Str || objs_[module].kind != Kind::Str)
        fail(at_, "STACK_GLOBAL needs two strings, got ", kind_name(module), " and ", kind_name(name));
      global(strings_[static_cast<std::size_t>(objs_[module].i)], strings_[static_cast<std::size_t>(objs_[name].i)]);
      return;
    }
    case 'R': reduce(); return;
    case 'Q': persistent_id(); return;
    case 'b': {  // BUILD: only OrderedDict attributes (a module state dict's _metadata), which carry no data
      const uint32_t state = pop("BUILD"), inst = top("BUILD");
      if (objs_[inst].kind != Kind::Dict || !objs_[inst].ordered || objs_[state].kind != Kind::Dict)
        fail(at_, "BUILD on a ", kind_name(inst), " with a ", kind_name(state),
             " state (only an OrderedDict's attributes are accepted)");
      return;
    }
    default:
      fail(at_, "opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
           " is not supported (torch.save's pickles use only protocol-2 data opcodes; "
           "object construction such as NEWOBJ, INST or OBJ is refused)");
  }
}

void Unpickler::global(const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  if (full == "torch._utils._rebuild_tensor_v2") {
    stack_.push_back(make_global(Global::RebuildTensorV2));
  } else if (full == "torch._utils._rebuild_parameter") {
    stack_.push_back(make_global(Global::RebuildParameter));
  } else if (full == "collections.OrderedDict") {
    stack_.push_back(make_global(Global::OrderedDict));
  } else if (module == "torch" && storage_type_dtype(name)) {
    stack_.push_back(make_global(Global::Storage, *storage_type_dtype(name)));
  } else if (module == "torch" || module.rfind("torch.", 0) == 0) {
    raise<NotImplementedError>(ctx_.op, ": ", ctx_.source, ": data.pkl byte ", at_, ": '", full,
                               "' is not supported by descent (it reads dense tensors of bool, int64, float16, "
                               "bfloat16, float32, float64, complex64 and complex128, and collections.OrderedDict)");
  } else {
    fail(at_, "global '", full, "' is not allowed: a state dict needs only tensor rebuilds, storages and "
              "collections.OrderedDict, and nothing in the file is ever executed");
  }
}

bool Unpickler::empty_ordered_dict(uint32_t h) const {
  return objs_[h].kind == Kind::Dict && objs_[h].ordered && containers_[static_cast<std::size_t>(objs_[h].i)].empty();
}

Shape Unpickler::int_tuple(uint32_t h, const char* what) {
  if (objs_[h].kind != Kind::Tuple) fail(at_, "_rebuild_tensor_v2: ", what, " is a ", kind_name(h), ", not a tuple");
  const auto& items = containers_[static_cast<std::size_t>(objs_[h].i)];
  if (items.size() > kMaxNdim) fail(at_, "_rebuild_tensor_v2: ", what, " has ", items.size(), " dims (at most ", kMaxNdim, ")");
  Shape out;
  for (uint32_t item : items) {
    if (objs_[item].kind != Kind::Int) fail(at_, "_rebuild_tensor_v2: ", what, " holds a ", kind_name(item));
    out.push_back(objs_[item].i);
  }
  return out;
}

void Unpickler::reduce() {
  const uint32_t args = pop("REDUCE"), fn = pop("REDUCE");
  if (objs_[fn].kind != Kind::Global) fail(at_, "REDUCE calls a ", kind_name(fn), " (only allowed globals are callable)");
  if (objs_[args].kind != Kind::Tuple) fail(at_, "REDUCE with a ", kind_name(args), " of arguments (must be a tuple)");
  const std::vector<uint32_t> a = containers_[static_cast<std::size_t>(objs_[args].i)];
  const Global g = objs_[fn].global;
  if (g == Global::OrderedDict) {
    if (!a.empty()) fail(at_, "collections.OrderedDict is called with ", a.size(), " arguments (torch.save passes none)");
    stack_.push_back(make_container(Kind::Dict));
    objs_[stack_.back()].ordered = true;
  } else if (g == Global::RebuildTensorV2) {
    tensors_.push_back(rebuild_tensor(a));
    stack_.push_back(make(Kind::Tensor, static_cast<int64_t>(tensors_.size() - 1)));
  } else if (g == Global::RebuildParameter) {
    if (a.size() != 3 || objs_[a[0]].kind != Kind::Tensor || objs_[a[1]].kind != Kind::Bool || !empty_ordered_dict(a[2]))
      fail(at_, "_rebuild_parameter needs (tensor, requires_grad, empty OrderedDict of hooks)");
    Tensor& t = tensors_[static_cast<std::size_t>(objs_[a[0]].i)];
    if (objs_[a[1]].i && !t.is_floating_point() && !t.is_complex())
      fail(at_, "a parameter of dtype ", t.dtype(), " cannot require grad");
    t.requires_grad_(objs_[a[1]].i != 0);
    stack_.push_back(a[0]);
  } else {
    fail(at_, "REDUCE calls torch.", storage_type_name(objs_[fn].dtype),
         " (a storage type is only valid inside a persistent id)");
  }
}

Tensor Unpickler::rebuild_tensor(const std::vector<uint32_t>& a) {
  if (a.size() != 6 && a.size() != 7)
    fail(at_, "_rebuild_tensor_v2 takes 6 or 7 arguments, got ", a.size());
  if (objs_[a[0]].kind != Kind::Storage) fail(at_, "_rebuild_tensor_v2: the storage is a ", kind_name(a[0]));
  if (objs_[a[1]].kind != Kind::Int) fail(at_, "_rebuild_tensor_v2: the storage offset is a ", kind_name(a[1]));
  if (objs_[a[4]].kind != Kind::Bool) fail(at_, "_rebuild_tensor_v2: requires_grad is a ", kind_name(a[4]));
  if (!empty_ordered_dict(a[5]))
    raise<NotImplementedError>(ctx_.op, ": ", ctx_.source, ": data.pkl byte ", at_,
                               ": a tensor with backward hooks is not supported (hooks are code)");
  if (a.size() == 7 && objs_[a[6]].kind != Kind::None &&
      !(objs_[a[6]].kind == Kind::Dict && containers_[static_cast<std::size_t>(objs_[a[6]].i)].empty()))
    raise<NotImplementedError>(ctx_.op, ": ", ctx_.source, ": data.pkl byte ", at_,
                               ": a tensor with metadata (conjugate or negative bits, subclass state) is not supported");
  TensorArgs args{&storages_[static_cast<std::size_t>(objs_[a[0]].i)], objs_[a[1]].i, int_tuple(a[2], "size"),
                  int_tuple(a[3], "stride"), objs_[a[4]].i != 0, at_};
  if (args.size.size() != args.stride.size())
    fail(at_, "_rebuild_tensor_v2: size ", shape_to_string(args.size), " and stride ", shape_to_string(args.stride),
         " differ in length");
  return ctx_.rebuild_tensor(args);
}

void Unpickler::persistent_id() {
  const uint32_t pid = pop("BINPERSID");
  const char* rule = "a persistent id must be ('storage', torch.<T>Storage, key, location, numel)";
  if (objs_[pid].kind != Kind::Tuple) fail(at_, rule, "; got a ", kind_name(pid));
  const std::vector<uint32_t> t = containers_[static_cast<std::size_t>(objs_[pid].i)];
  if (t.size() != 5 || objs_[t[0]].kind != Kind::Str || strings_[static_cast<std::size_t>(objs_[t[0]].i)] != "storage" ||
      objs_[t[1]].kind != Kind::Global || objs_[t[1]].global != Global::Storage ||
      objs_[t[2]].kind != Kind::Str || objs_[t[3]].kind != Kind::Str || objs_[t[4]].kind != Kind::Int)
    fail(at_, rule);
  StorageRef ref;
  ref.dtype = objs_[t[1]].dtype;
  ref.key = strings_[static_cast<std::size_t>(objs_[t[2]].i)];
  ref.location = strings_[static_cast<std::size_t>(objs_[t[3]].i)];
  ref.numel = objs_[t[4]].i;
  if (ref.numel < 0) fail(at_, "storage '", ref.key, "' has ", ref.numel, " elements");
  storages_.push_back(std::move(ref));
  stack_.push_back(make(Kind::Storage, static_cast<int64_t>(storages_.size() - 1)));
}

Key Unpickler::to_key(uint32_t h) {
  if (objs_[h].kind == Kind::Int) return objs_[h].i;
  if (objs_[h].kind == Kind::Str) return strings_[static_cast<std::size_t>(objs_[h].i)];
  fail(at_, "a dict key is a ", kind_name(h), " (descent's dicts take int and str keys)");
}

Value Unpickler::to_value(uint32_t h, int depth) {
  const Obj& o = objs_[h];
  charge(1);
  switch (o.kind) {
    case Kind::None: return Value();
    case Kind::Bool: return Value(o.i != 0);
    case Kind::Int: return Value(o.i);
    case Kind::Float: return Value(o.f);
    case Kind::Str: {
      const std::string& s = strings_[static_cast<std::size_t>(o.i)];
      charge(s.size());
      return Value(s);
    }
    case Kind::Tensor: return Value(tensors_[static_cast<std::size_t>(o.i)]);
    case Kind::List:
    case Kind::Tuple:
    case Kind::Dict: break;
    case Kind::Global:
    case Kind::Storage: fail(at_, "the result holds a bare ", kind_name(h), " (only tensors, numbers, strings and containers load)");
  }
  if (depth >= kMaxDepth) fail(at_, "lists, tuples and dicts nest deeper than ", kMaxDepth, " levels (or form a cycle)");
  const std::vector<uint32_t>& items = containers_[static_cast<std::size_t>(o.i)];
  if (o.kind == Kind::Dict) {
    Dict d;
    for (std::size_t k = 0; k < items.size(); k += 2) d.set(to_key(items[k]), to_value(items[k + 1], depth + 1));
    return d;
  }
  List l{{}, o.kind == Kind::Tuple};
  l.items.reserve(items.size());
  for (uint32_t item : items) l.items.push_back(to_value(item, depth + 1));
  return l;
}

}  // namespace

Value unpickle(std::span<const uint8_t> pickle, const UnpickleContext& context) {
  return Unpickler(pickle, context).run();
}

}  // namespace descent::pytorch
