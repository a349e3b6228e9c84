#include "descent/optim/value.h"

#include "descent/tensor/ops.h"

namespace descent {

std::string key_to_string(const Key& key) {
  if (const auto* i = std::get_if<int64_t>(&key)) return std::to_string(*i);
  return "'" + std::get<std::string>(key) + "'";
}

Dict::Dict(std::initializer_list<Item> items) {
  for (const auto& item : items) set(item.first, item.second);
}

const Value* Dict::find(const Key& key) const {
  for (const auto& item : items_)
    if (item.first == key) return &item.second;
  return nullptr;
}
Value* Dict::find(const Key& key) { return const_cast<Value*>(static_cast<const Dict*>(this)->find(key)); }
bool Dict::contains(const Key& key) const { return find(key) != nullptr; }

const Value& Dict::at(const Key& key) const {
  if (const Value* v = find(key)) return *v;
  raise<KeyError>("KeyError: ", key_to_string(key), " is not in the dict");
}
Value& Dict::at(const Key& key) { return const_cast<Value&>(static_cast<const Dict*>(this)->at(key)); }

Value& Dict::operator[](const Key& key) {
  if (Value* v = find(key)) return *v;
  items_.emplace_back(key, Value());
  return items_.back().second;
}

Value& Dict::setdefault(const Key& key, Value value) {
  if (Value* v = find(key)) return *v;
  items_.emplace_back(key, std::move(value));
  return items_.back().second;
}

void Dict::set(const Key& key, Value value) {
  if (Value* v = find(key)) {
    *v = std::move(value);
  } else {
    items_.emplace_back(key, std::move(value));
  }
}

bool Dict::erase(const Key& key) {
  for (auto it = items_.begin(); it != items_.end(); ++it)
    if (it->first == key) {
      items_.erase(it);
      return true;
    }
  return false;
}

std::vector<Key> Dict::keys() const {
  std::vector<Key> out;
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

const Value& Value::operator[](std::size_t i) const {
  const List& l = to_list();
  if (i >= l.items.size()) raise<IndexError>(type_name(), " index out of range: ", i, " (size ", l.items.size(), ")");
  return l.items[i];
}

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
