// make_optimizer: one row per optimizer, each reading its keyword arguments
// into the optimizer's options struct. Adding an optimizer = adding a row.
#include "descent/optim/registry.h"

#include <array>
#include <functional>
#include <optional>
#include <set>

#include "descent/optim/adam.h"
#include "descent/optim/sgd.h"

namespace descent::optim {

namespace {

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
      if (!used_.count(std::get<std::string>(key)))
        raise<TypeError>(optimizer_, ".__init__() got an unexpected keyword argument '",
                         std::get<std::string>(key), "'");
  }

 private:
  const Value* take(const char* key) {
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
};

using Builder = std::function<std::unique_ptr<Optimizer>(Params, Kwargs&)>;

struct Row {
  const char* name;
  Builder build;
};

const std::vector<Row>& rows() {
  static const std::vector<Row> table{
      {"SGD",
       [](Params params, Kwargs& kw) {
         SGDOptions o;
         kw.read("lr", o.lr);
         kw.read("momentum", o.momentum);
         kw.read("dampening", o.dampening);
         kw.read("weight_decay", o.weight_decay);
         kw.read("nesterov", o.nesterov);
         kw.read("maximize", o.maximize);
         kw.read("foreach", o.foreach);
         kw.read("differentiable", o.differentiable);
         kw.read("fused", o.fused);
         kw.finish();
         return std::make_unique<SGD>(std::move(params), o);
       }},
      {"Adam",
       [](Params params, Kwargs& kw) {
         AdamOptions o;
         kw.read("lr", o.lr);
         kw.read("betas", o.betas);
         kw.read("eps", o.eps);
         kw.read("weight_decay", o.weight_decay);
         kw.read("amsgrad", o.amsgrad);
         kw.read("foreach", o.foreach);
         kw.read("maximize", o.maximize);
         kw.read("capturable", o.capturable);
         kw.read("differentiable", o.differentiable);
         kw.read("fused", o.fused);
         kw.read("decoupled_weight_decay", o.decoupled_weight_decay);
         kw.finish();
         return std::make_unique<Adam>(std::move(params), o);
       }},
      {"AdamW",
       [](Params params, Kwargs& kw) {
         AdamWOptions o;
         kw.read("lr", o.lr);
         kw.read("betas", o.betas);
         kw.read("eps", o.eps);
         kw.read("weight_decay", o.weight_decay);
         kw.read("amsgrad", o.amsgrad);
         kw.read("maximize", o.maximize);
         kw.read("foreach", o.foreach);
         kw.read("capturable", o.capturable);
         kw.read("differentiable", o.differentiable);
         kw.read("fused", o.fused);
         kw.finish();
         return std::make_unique<AdamW>(std::move(params), o);
       }},
  };
  return table;
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, Params params, const Dict& kwargs) {
  for (const Row& row : rows())
    if (name == row.name) {
      Kwargs kw(name, kwargs);
      return row.build(std::move(params), kw);
    }
  std::string known;
  for (const Row& row : rows()) known += (known.empty() ? "" : ", ") + std::string(row.name);
  raise<ValueError>("make_optimizer: unknown optimizer '", name, "' (known: ", known, ")");
}

std::vector<std::string> optimizer_names() {
  std::vector<std::string> names;
  for (const Row& row : rows()) names.emplace_back(row.name);
  return names;
}

}  // namespace descent::optim
