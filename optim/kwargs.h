#pragma once
// Binding Python-style keyword arguments to an options struct, as
// getattr(torch.optim, name)(params, **kwargs) does. Private to optim/.
#include <array>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "descent/optim/options.h"
#include "descent/optim/value.h"
#include "optim/common.h"

namespace descent::optim::detail {

// Keyword arguments being bound to one constructor. Whatever no read()
// consumed is an unexpected keyword, reported as Python's argument binding does.
class Kwargs {
 public:
  Kwargs(std::string optimizer, const Dict& kwargs) : optimizer_(std::move(optimizer)), kwargs_(kwargs) {
    for (const auto& [key, value] : kwargs_)
      if (!std::holds_alternative<std::string>(key))
        raise<TypeError>(optimizer_, ".__init__() keywords must be strings, got ", key_to_string(key));
  }

  void read(const char* key, Value& out) {
    if (const Value* v = take(key)) out = *v;
  }
  void read(const char* key, bool& out) {
    if (const Value* v = take(key)) {
      if (!v->is_bool()) wrong_kind(key, *v, "bool");
      out = v->to_bool();
    }
  }
  // foreach / fused: None, True or False.
  void read(const char* key, std::optional<bool>& out) {
    if (const Value* v = take(key)) {
      if (v->is_none()) {
        out.reset();
      } else if (v->is_bool()) {
        out = v->to_bool();
      } else {
        wrong_kind(key, *v, "bool or None");
      }
    }
  }
  // betas and other pairs: a tuple or list of two numbers or tensors.
  void read(const char* key, std::array<Value, 2>& out) {
    if (const Value* v = take(key)) {
      if (!v->is_list() || v->to_list().items.size() != 2) wrong_kind(key, *v, "a tuple of 2 values");
      out = {v->to_list().items[0], v->to_list().items[1]};
    }
  }

  // Python binds every keyword before the constructor body runs.
  void finish() const {
    for (const auto& [key, value] : kwargs_)
      if (!used_.count(std::get<std::string>(key))) {
        std::string valid;
        for (const std::string& k : known_) valid += (valid.empty() ? "" : ", ") + k;
        raise<ValueError>(optimizer_, ": unexpected keyword argument '", std::get<std::string>(key),
                          "'", did_you_mean(std::get<std::string>(key), known_), " (its keywords: ", valid, ")");
      }
  }

 private:
  const Value* take(const char* key) {
    known_.emplace_back(key);
    const Value* v = kwargs_.find(std::string(key));
    if (v) used_.insert(key);
    return v;
  }
  [[noreturn]] void wrong_kind(const char* key, const Value& v, const char* wanted) const {
    raise<TypeError>(optimizer_, ".__init__(): argument '", key, "' must be ", wanted, ", got ",
                     v.type_name(), " (", v.str(), ")");
  }

  std::string optimizer_;
  const Dict& kwargs_;
  std::set<std::string> used_;
  std::vector<std::string> known_;  // every keyword asked for, in declaration order
};


// Reads every field of an options struct that the keywords name.
template <class Options>
Options bind_options(Kwargs& kw) {
  Options o;
  std::apply([&](const auto&... f) { (kw.read(f.name, o.*(f.member)), ...); }, Options::fields());
  kw.finish();
  return o;
}

// One-element tensor options are stored 0-dim, as PyTorch does.
inline Value option_value(const Value& v) { return squeeze_scalar(v); }
inline Value option_value(bool v) { return v; }
inline Value option_value(const std::optional<bool>& v) { return v ? Value(*v) : Value(); }
inline Value option_value(const std::array<Value, 2>& v) {
  return Value::tuple({squeeze_scalar(v[0]), squeeze_scalar(v[1])});
}

// The options as a param group's dict, in declaration order.
template <class Options>
Dict options_dict(const Options& o) {
  Dict d;
  std::apply([&](const auto&... f) { (d.set(f.name, option_value(o.*(f.member))), ...); }, Options::fields());
  return d;
}

}  // namespace descent::optim::detail
