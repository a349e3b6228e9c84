#include "examples/train/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "descent/error.h"
#include "descent/optim/registry.h"

namespace train {

using descent::Dict;
using descent::Value;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Learning rates that train the two-spirals MLP well in ~1000 steps (found
// by hand); optimizers not listed use their PyTorch default.
std::optional<double> suggested_lr(const std::string& optimizer) {
  static const std::map<std::string, double> table{
      {"SGD", 1.0},      {"Adam", 1e-2},  {"AdamW", 1e-2},   {"Adadelta", 1.0},  {"Adagrad", 0.1},
      {"Adamax", 2e-2},  {"ASGD", 1.0},   {"LBFGS", 1.0},    {"NAdam", 1e-2},    {"RAdam", 1e-2},
      {"RMSprop", 1e-2}, {"Rprop", 1e-3}, {"Adafactor", 3e-2}, {"Muon", 5e-2},
  };
  auto it = table.find(optimizer);
  if (it == table.end()) return std::nullopt;
  return it->second;
}

}  // namespace

double RunConfig::effective_lr() const {
  if (lr) return *lr;
  if (auto s = suggested_lr(optimizer)) return *s;
  return 1e-3;
}

std::string canonical_optimizer(const std::string& name) {
  std::string known;
  for (const std::string& n : descent::optim::optimizer_names()) {
    if (lower(n) == lower(name)) return n;
    known += (known.empty() ? "" : ", ") + n;
  }
  descent::raise<descent::ValueError>("descent-train: unknown optimizer '", name, "' (known: ", known, ")");
}

Value parse_value(const std::string& text) {
  std::string t = lower(text);
  if (t == "true") return Value(true);
  if (t == "false") return Value(false);
  if (t == "none") return Value();
  if (text.find(',') != std::string::npos) {
    std::vector<Value> items;
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find(',', start);
      if (end == std::string::npos) end = text.size();
      items.push_back(parse_value(text.substr(start, end - start)));
      start = end + 1;
    }
    return Value::tuple(std::move(items));
  }
  const char* first = text.data();
  const char* last = text.data() + text.size();
  int64_t i = 0;
  if (auto r = std::from_chars(first, last, i); r.ec == std::errc() && r.ptr == last) return Value(i);
  double d = 0;
  if (auto r = std::from_chars(first, last, d); r.ec == std::errc() && r.ptr == last) return Value(d);
  return Value(text);
}

Dict RunConfig::to_dict() const {
  Dict options_dict;
  for (const auto& [k, v] : options) options_dict.set(k, Value(v));
  return Dict{{"task", task},
              {"hidden", hidden},
              {"batch", batch},
              {"optimizer", optimizer},
              {"lr", Value(lr)},
              {"options", options_dict},
              {"scheduler", scheduler},
              {"ema", ema},
              {"swa_start", swa_start},
              {"swa_lr", Value(swa_lr)},
              {"steps", steps},
              {"seed", static_cast<int64_t>(seed)}};
}

RunConfig RunConfig::from_dict(const Dict& d) {
  RunConfig c;
  c.task = d.at("task").to_string_value();
  c.hidden = d.at("hidden").to_int();
  c.batch = d.at("batch").to_int();
  c.optimizer = d.at("optimizer").to_string_value();
  if (!d.at("lr").is_none()) c.lr = d.at("lr").to_double();
  for (const auto& [k, v] : d.at("options").to_dict())
    c.options.emplace_back(std::get<std::string>(k), v.to_string_value());
  c.scheduler = d.at("scheduler").to_string_value();
  c.ema = d.at("ema").to_double();
  c.swa_start = d.at("swa_start").to_int();
  if (!d.at("swa_lr").is_none()) c.swa_lr = d.at("swa_lr").to_double();
  c.steps = d.at("steps").to_int();
  c.seed = static_cast<uint64_t>(d.at("seed").to_int());
  return c;
}

}  // namespace train
