#include "descent/optim/value.h"

#include <ostream>

#include <bit>
#include <chrono>
#include <random>
#include <string_view>

#include "descent/tensor/ops.h"
#include "optim/key_hash.h"

namespace descent {

std::string key_to_string(const Key& key) {
  if (const auto* i = std::get_if<int64_t>(&key)) return std::to_string(*i);
  return "'" + std::get<std::string>(key) + "'";
}

namespace detail {

namespace {
struct SipKey {
  uint64_t k0, k1;
};

SipKey draw_key() {
  uint64_t k0 = 0, k1 = 0;
  try {
    std::random_device rd;
    k0 = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    k1 = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
  }
  // Where random_device is unavailable or deterministic, mix in the clock and an address.
  const auto now = static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  k0 ^= now * 0x9E3779B97F4A7C15ull;
  k1 ^= reinterpret_cast<uintptr_t>(&k0) * 0xC2B2AE3D27D4EB4Full;
  return {k0, k1};
}

const SipKey& sip_key() {
  static const SipKey key = draw_key();
  return key;
}

struct Sip {
  uint64_t v0, v1, v2, v3;
  Sip(uint64_t k0, uint64_t k1)
      : v0(k0 ^ 0x736f6d6570736575ull),
        v1(k1 ^ 0x646f72616e646f6dull),
        v2(k0 ^ 0x6c7967656e657261ull),
        v3(k1 ^ 0x7465646279746573ull) {}
  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  void block(uint64_t m) {  // SipHash-1-3: one compression round per block
    v3 ^= m;
    round();
    v0 ^= m;
  }
  uint64_t finish() {
    v2 ^= 0xff;
    round();
    round();
    round();
    return v0 ^ v1 ^ v2 ^ v3;
  }
};

uint64_t load_le64(const unsigned char* p, std::size_t n) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
}  // namespace

uint64_t keyed_hash(int64_t key) noexcept {
  const SipKey& k = sip_key();
  Sip s(k.k0, k.k1 ^ 1);  // a different key than strings', so an int and 8 bytes never pair up
  s.block(static_cast<uint64_t>(key));
  s.block(uint64_t{8} << 56);
  return s.finish();
}

uint64_t keyed_hash(std::string_view bytes) noexcept {
  const SipKey& k = sip_key();
  Sip s(k.k0, k.k1);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size(), full = n / 8 * 8;
  for (std::size_t i = 0; i < full; i += 8) s.block(load_le64(p + i, 8));
  s.block((static_cast<uint64_t>(n) << 56) | load_le64(p + full, n - full));
  return s.finish();
}

uint64_t keyed_hash(const Key& key) noexcept {
  if (const auto* i = std::get_if<int64_t>(&key)) return keyed_hash(*i);
  return keyed_hash(std::string_view(std::get<std::string>(key)));
}

}  // namespace detail

Dict::Dict(std::initializer_list<Item> items) {
  for (const auto& item : items) set(item.first, item.second);
}

std::size_t Dict::position(const Key& key) const {
  if (index_.empty()) {
    for (std::size_t i = 0; i < items_.size(); ++i)
      if (items_[i].first == key) return i;
    return npos;
  }
  const std::size_t mask = index_.size() - 1;
  for (std::size_t slot = detail::keyed_hash(key) & mask;; slot = (slot + 1) & mask) {
    const uint32_t entry = index_[slot];
    if (entry == 0) return npos;
    if (items_[entry - 1].first == key) return entry - 1;
  }
}

void Dict::rebuild_index() {
  index_.clear();
  if (items_.size() <= kIndexThreshold) return;
  if (items_.size() >= UINT32_MAX)
    raise<RuntimeError>("Dict: ", items_.size(), " items exceed the limit of ", UINT32_MAX - 1);
  std::size_t slots = 64;
  while (slots < 2 * items_.size()) slots *= 2;
  index_.assign(slots, 0);
  const std::size_t mask = slots - 1;
  for (std::size_t pos = 0; pos < items_.size(); ++pos) {
    std::size_t slot = detail::keyed_hash(items_[pos].first) & mask;
    while (index_[slot] != 0) slot = (slot + 1) & mask;
    index_[slot] = static_cast<uint32_t>(pos + 1);
  }
}

// items_[pos] was just appended.
void Dict::index_add(std::size_t pos) {
  if (index_.empty() || 2 * items_.size() > index_.size()) return rebuild_index();
  if (items_.size() >= UINT32_MAX)
    raise<RuntimeError>("Dict: ", items_.size(), " items exceed the limit of ", UINT32_MAX - 1);
  const std::size_t mask = index_.size() - 1;
  std::size_t slot = detail::keyed_hash(items_[pos].first) & mask;
  while (index_[slot] != 0) slot = (slot + 1) & mask;
  index_[slot] = static_cast<uint32_t>(pos + 1);
}

// Before items_[pos] is erased: drops its slot (backward-shift deletion keeps
// every probe chain unbroken) and renumbers the items after it.
void Dict::index_remove(std::size_t pos) {
  if (index_.empty()) return;
  if (items_.size() - 1 <= kIndexThreshold / 2) {
    index_.clear();  // small again: linear search, cheap copies
    return;
  }
  const std::size_t mask = index_.size() - 1;
  std::size_t hole = detail::keyed_hash(items_[pos].first) & mask;
  while (index_[hole] != pos + 1) hole = (hole + 1) & mask;
  for (std::size_t next = (hole + 1) & mask; index_[next] != 0; next = (next + 1) & mask) {
    const std::size_t home = detail::keyed_hash(items_[index_[next] - 1].first) & mask;
    // The entry at next may move into the hole unless its home lies cyclically in (hole, next].
    const bool stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    if (!stays) {
      index_[hole] = index_[next];
      hole = next;
    }
  }
  index_[hole] = 0;
  if (pos + 1 < items_.size())
    for (uint32_t& entry : index_)
      if (entry > pos + 1) --entry;
}

Value& Dict::append(Key key, Value value) {
  items_.emplace_back(std::move(key), std::move(value));
  try {
    index_add(items_.size() - 1);
  } catch (...) {
    items_.pop_back();
    throw;
  }
  return items_.back().second;
}

const Value* Dict::find(const Key& key) const {
  const std::size_t pos = position(key);
  return pos == npos ? nullptr : &items_[pos].second;
}
Value* Dict::find(const Key& key) { return const_cast<Value*>(static_cast<const Dict*>(this)->find(key)); }
bool Dict::contains(const Key& key) const { return position(key) != npos; }

const Value& Dict::at(const Key& key) const {
  if (const Value* v = find(key)) return *v;
  raise<KeyError>("KeyError: ", key_to_string(key), " is not in the dict");
}
Value& Dict::at(const Key& key) { return const_cast<Value&>(static_cast<const Dict*>(this)->at(key)); }

Value& Dict::operator[](const Key& key) {
  if (Value* v = find(key)) return *v;
  return append(key, Value());
}

Value& Dict::setdefault(const Key& key, Value value) {
  if (Value* v = find(key)) return *v;
  return append(key, std::move(value));
}

void Dict::set(const Key& key, Value value) {
  if (Value* v = find(key)) {
    *v = std::move(value);
  } else {
    append(key, std::move(value));
  }
}

void Dict::append_unchecked(Key key, Value value) { append(std::move(key), std::move(value)); }

bool Dict::erase(const Key& key) {
  const std::size_t pos = position(key);
  if (pos == npos) return false;
  index_remove(pos);
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(pos));
  return true;
}

std::vector<Key> Dict::keys() const {
  std::vector<Key> out;
  out.reserve(items_.size());
  for (const auto& item : items_) out.push_back(item.first);
  return out;
}

std::string Value::type_name() const {
  switch (v_.index()) {
    case 0: return "None";
    case 1: return "bool";
    case 2: return "int";
    case 3: return "float";
    case 4: return "str";
    case 5: return "Tensor";
    case 6: return std::get<List>(v_).is_tuple ? "tuple" : "list";
    default: return "dict";
  }
}

namespace {
[[noreturn]] void wrong_type(const Value& v, const char* wanted) {
  raise<TypeError>("expected a value of type ", wanted, " but got ", v.type_name(), " (", v.str(), ")");
}
}  // namespace

bool Value::to_bool() const {
  if (const auto* b = std::get_if<bool>(&v_)) return *b;
  wrong_type(*this, "bool");
}
int64_t Value::to_int() const {
  if (const auto* i = std::get_if<int64_t>(&v_)) return *i;
  if (const auto* b = std::get_if<bool>(&v_)) return *b;
  wrong_type(*this, "int");
}
double Value::to_double() const {
  if (const auto* d = std::get_if<double>(&v_)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  if (const auto* b = std::get_if<bool>(&v_)) return *b ? 1.0 : 0.0;
  if (const auto* t = std::get_if<Tensor>(&v_)) {
    if (t->numel() != 1) raise<ValueError>("only one element tensors can be converted to a number (got ", t->numel(), " elements)");
    return t->item<double>();
  }
  wrong_type(*this, "float");
}
const std::string& Value::to_string_value() const {
  if (const auto* s = std::get_if<std::string>(&v_)) return *s;
  wrong_type(*this, "str");
}
const Tensor& Value::to_tensor() const {
  if (const auto* t = std::get_if<Tensor>(&v_)) return *t;
  wrong_type(*this, "Tensor");
}
Tensor& Value::to_tensor() { return const_cast<Tensor&>(static_cast<const Value*>(this)->to_tensor()); }
const List& Value::to_list() const {
  if (const auto* l = std::get_if<List>(&v_)) return *l;
  wrong_type(*this, "list or tuple");
}
List& Value::to_list() { return const_cast<List&>(static_cast<const Value*>(this)->to_list()); }
const Dict& Value::to_dict() const {
  if (const auto* d = std::get_if<Dict>(&v_)) return *d;
  wrong_type(*this, "dict");
}
Dict& Value::to_dict() { return const_cast<Dict&>(static_cast<const Value*>(this)->to_dict()); }

const Value& Value::operator[](const Key& key) const {
  if (!is_dict())
    raise<TypeError>("a ", type_name(), " value cannot be indexed by ", key_to_string(key),
                     " (only a dict by key, or a list by position)");
  return to_dict().at(key);
}
Value& Value::operator[](const Key& key) {
  return const_cast<Value&>(static_cast<const Value*>(this)->operator[](key));
}

// A dict's int key, or a list's index (negative counts from the end, as in Python).
const Value& Value::operator[](int64_t i) const {
  if (!is_list()) return (*this)[Key(i)];
  const List& l = to_list();
  const auto n = static_cast<int64_t>(l.items.size());
  if (i < -n || i >= n) raise<IndexError>(type_name(), " index out of range: ", i, " (size ", n, ")");
  return l.items[static_cast<std::size_t>(i < 0 ? i + n : i)];
}
Value& Value::operator[](int64_t i) { return const_cast<Value&>(static_cast<const Value*>(this)->operator[](i)); }

std::ostream& operator<<(std::ostream& out, const Value& value) { return out << value.str(); }

std::string Value::str() const {
  switch (v_.index()) {
    case 0: return "None";
    case 1: return std::get<bool>(v_) ? "True" : "False";
    case 2: return std::to_string(std::get<int64_t>(v_));
    case 3: return format_double(std::get<double>(v_));
    case 4: return std::get<std::string>(v_);
    case 5: return std::get<Tensor>(v_).repr();
    case 6: {
      const List& l = std::get<List>(v_);
      std::string out = l.is_tuple ? "(" : "[";
      for (std::size_t i = 0; i < l.items.size(); ++i) {
        if (i) out += ", ";
        out += l.items[i].is_string() ? "'" + l.items[i].str() + "'" : l.items[i].str();
      }
      if (l.is_tuple && l.items.size() == 1) out += ",";
      return out + (l.is_tuple ? ")" : "]");
    }
    default: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : std::get<Dict>(v_)) {
        if (!first) out += ", ";
        first = false;
        out += key_to_string(k) + ": " + (v.is_string() ? "'" + v.str() + "'" : v.str());
      }
      return out + "}";
    }
  }
}

bool operator==(const Value& a, const Value& b) {
  const auto& x = a.storage();
  const auto& y = b.storage();
  if (x.index() != y.index()) return false;
  switch (x.index()) {
    case 0: return true;
    case 1: return std::get<bool>(x) == std::get<bool>(y);
    case 2: return std::get<int64_t>(x) == std::get<int64_t>(y);
    case 3: return std::get<double>(x) == std::get<double>(y);
    case 4: return std::get<std::string>(x) == std::get<std::string>(y);
    case 5: {
      const Tensor& s = std::get<Tensor>(x);
      const Tensor& t = std::get<Tensor>(y);
      return s.dtype() == t.dtype() && s.device() == t.device() && equal(s, t);
    }
    case 6: {
      const List& l = std::get<List>(x);
      const List& m = std::get<List>(y);
      return l.is_tuple == m.is_tuple && l.items == m.items;
    }
    default: {
      const Dict& d = std::get<Dict>(x);
      const Dict& e = std::get<Dict>(y);
      if (d.size() != e.size()) return false;
      auto it = e.begin();
      for (const auto& item : d) {
        if (!(item.first == it->first) || item.second != it->second) return false;
        ++it;
      }
      return true;
    }
  }
}

Value deepcopy(const Value& value) {
  if (value.is_tensor()) {
    const Tensor& t = value.to_tensor();
    if (!t.defined()) return value;
    Tensor c = t.detach().clone();
    if (t.requires_grad() && t.is_leaf()) c.requires_grad_(true);
    return c;
  }
  if (value.is_list()) {
    List out{{}, value.to_list().is_tuple};
    for (const Value& v : value.to_list().items) out.items.push_back(deepcopy(v));
    return out;
  }
  if (value.is_dict()) {
    Dict out;
    for (const auto& [k, v] : value.to_dict()) out.set(k, deepcopy(v));
    return out;
  }
  return value;
}

}  // namespace descent
