#pragma once
// A dynamically typed value tree: what a Python state_dict holds (None, bool,
// int, float, str, Tensor, list/tuple, dict with int or str keys). Param group
// options, optimizer and scheduler state dicts, and checkpoint files are
// built from it. Containers have value semantics; tensors inside are handles
// (copying a Value shares tensors, as Python's copy.copy would; deepcopy()
// clones them).
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "descent/tensor/tensor.h"

namespace descent {

class Value;

// A dict key: Python state dicts use ints (parameter ids) and strings.
using Key = std::variant<int64_t, std::string>;
std::string key_to_string(const Key& key);

/// An insertion-ordered dictionary (Python dict). Lookups, inserts and
/// overwrites are O(1) on average: past kIndexThreshold items a hash index of
/// positions (keyed with a per-process random key, so crafted keys cannot
/// make it degrade) sits beside the items; small dicts are searched linearly
/// and cost no more to copy than their items. erase() is O(1) for the last item
/// and O(n) otherwise, as the later items move up. Keys must not be modified
/// through iterators.
class Dict {
 public:
  using Item = std::pair<Key, Value>;
  Dict() = default;
  Dict(std::initializer_list<Item> items);

  bool contains(const Key& key) const;
  // Throws KeyError naming the key when absent.
  const Value& at(const Key& key) const;
  Value& at(const Key& key);
  // Inserts None when absent, as Python's defaultdict would.
  Value& operator[](const Key& key);
  const Value* find(const Key& key) const;
  Value* find(const Key& key);
  // Python's dict.setdefault: inserts only when absent; returns the stored value.
  Value& setdefault(const Key& key, Value value);
  void set(const Key& key, Value value);
  // Appends without looking for key: the caller guarantees it is absent
  // (checkpoint loading checks that with contains()).
  void append_unchecked(Key key, Value value);
  bool erase(const Key& key);
  std::size_t size() const;
  bool empty() const;
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }
  std::vector<Item>::iterator begin() { return items_.begin(); }
  std::vector<Item>::iterator end() { return items_.end(); }
  std::vector<Key> keys() const;

  // Dicts with more items than this carry a hash index.
  static constexpr std::size_t kIndexThreshold = 16;

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::size_t position(const Key& key) const;
  Value& append(Key key, Value value);
  void index_add(std::size_t pos);
  void index_remove(std::size_t pos);
  void rebuild_index();

  std::vector<Item> items_;
  // Open addressing with linear probing: each slot holds an item's position
  // + 1, or 0 when empty; a power of two of slots, at most half full. Built
  // when the dict grows past kIndexThreshold items, dropped when erase()
  // shrinks it to kIndexThreshold / 2 (so small dicts copy cheaply).
  std::vector<uint32_t> index_;
};

/// A Python list or tuple of Values (tuples print and round-trip as tuples).
struct List {
  std::vector<Value> items;
  // Python prints and stores tuples (betas) differently from lists.
  bool is_tuple = false;
};

/// A dynamically typed value as Python's state dicts hold them: none, bool, int, double, string, Tensor, List or Dict.
class Value {
 public:
  using Storage = std::variant<std::monostate, bool, int64_t, double, std::string, Tensor, List, Dict>;

  Value() = default;  // None
  Value(std::nullopt_t) {}
  Value(bool v) : v_(v) {}
  Value(int v) : v_(static_cast<int64_t>(v)) {}
  Value(int64_t v) : v_(v) {}
  Value(double v) : v_(v) {}
  Value(const char* v) : v_(std::string(v)) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(Tensor v) : v_(std::move(v)) {}
  Value(List v) : v_(std::move(v)) {}
  Value(Dict v) : v_(std::move(v)) {}
  template <typename T>
  Value(std::optional<T> v) {
    if (v) *this = Value(*v);
  }

  static Value tuple(std::vector<Value> items) { return Value(List{std::move(items), true}); }
  static Value list(std::vector<Value> items) { return Value(List{std::move(items), false}); }

  bool is_none() const { return std::holds_alternative<std::monostate>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_double() const { return std::holds_alternative<double>(v_); }
  // int or float (not bool), as Python's numbers.Real minus bool.
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_tensor() const { return std::holds_alternative<Tensor>(v_); }
  bool is_list() const { return std::holds_alternative<List>(v_); }
  bool is_dict() const { return std::holds_alternative<Dict>(v_); }

  // Typed access; throws TypeError naming the expected and actual kind.
  bool to_bool() const;
  int64_t to_int() const;
  // int, float, bool or a one-element tensor, as Python's float(x).
  double to_double() const;
  const std::string& to_string_value() const;
  const Tensor& to_tensor() const;
  Tensor& to_tensor();
  const List& to_list() const;
  List& to_list();
  const Dict& to_dict() const;
  Dict& to_dict();

  // Python's number conversions, for `double lr = group["lr"];`: floating
  // types read to_double(), bool to_bool(), integer types to_int() (ValueError
  // when it does not fit). The wrong kind of value is a TypeError.
  template <Number T>
  operator T() const {
    if constexpr (std::is_same_v<T, bool>) return to_bool();
    else if constexpr (std::is_floating_point_v<T>) return static_cast<T>(to_double());
    else return detail::fit_integer<T>(to_int(), "Value");
  }

  // Python's x[key], for reading and for changing an existing entry: a
  // dict's value (KeyError naming the key when absent), or for an integer
  // on a list, its item (IndexError when out of range). So
  // `sd["state"][0]["exp_avg"]` reads a state dict. To add a key, use
  // to_dict()[key] or to_dict().set(key, value).
  Value& operator[](const Key& key);
  const Value& operator[](const Key& key) const;
  Value& operator[](int64_t i);
  const Value& operator[](int64_t i) const;
  Value& operator[](int i) { return (*this)[static_cast<int64_t>(i)]; }
  const Value& operator[](int i) const { return (*this)[static_cast<int64_t>(i)]; }
  Value& operator[](std::size_t i) { return (*this)[static_cast<int64_t>(i)]; }
  const Value& operator[](std::size_t i) const { return (*this)[static_cast<int64_t>(i)]; }
  Value& operator[](const char* key) { return (*this)[Key(std::string(key))]; }
  const Value& operator[](const char* key) const { return (*this)[Key(std::string(key))]; }
  const Value& at(const Key& key) const { return to_dict().at(key); }

  // "None", "True", "float", "int", "str", "Tensor", "list", "tuple", "dict".
  std::string type_name() const;
  // Python's str(): None, False, 0.001, (0.9, 0.999), 1e-08, 'text' in containers.
  std::string str() const;

  const Storage& storage() const { return v_; }

 private:
  Storage v_;
};

// Prints str(), as Python's print() shows the value (`0.001`, `(0.9, 0.999)`, `None`, `tensor(...)`).
std::ostream& operator<<(std::ostream& out, const Value& value);

// Structural equality; tensors compare by dtype, shape and values.
bool operator==(const Value& a, const Value& b);
inline bool operator!=(const Value& a, const Value& b) { return !(a == b); }
// `group["lr"] == 0.1`: compares numbers by value, as Python's 0 == 0.0 and
// True == 1 (anything else is unequal). Without these the number
// conversions above would make the comparison ambiguous.
template <Number T>
bool operator==(const Value& a, T b) {
  if (a.is_int() || a.is_bool()) {
    if constexpr (std::is_floating_point_v<T>) return static_cast<double>(a.to_int()) == static_cast<double>(b);
    else return a.to_int() == static_cast<int64_t>(b);
  }
  return a.is_double() && a.to_double() == static_cast<double>(b);
}
template <Number T>
bool operator!=(const Value& a, T b) {
  return !(a == b);
}
// Python's copy.deepcopy: containers copied, tensors cloned.
Value deepcopy(const Value& value);

// Defined here, where Value is complete (clang instantiates vector<Item>::size eagerly).
inline std::size_t Dict::size() const { return items_.size(); }
inline bool Dict::empty() const { return items_.empty(); }

}  // namespace descent
