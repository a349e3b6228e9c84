#pragma once
// Reads the golden-value fixtures written by scripts/fixtures/*.py (format in
// scripts/fixtures/fixture_io.py). Fixture files live in tests/fixtures/.
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "descent/descent.h"

namespace descent::testing {

struct FixtureCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> config;  // key, Python literal
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> scalars;

  const Tensor& tensor(const std::string& key) const {
    auto it = tensors.find(key);
    if (it == tensors.end()) raise<KeyError>("fixture case ", name, " has no tensor '", key, "'");
    return it->second;
  }
  bool has(const std::string& key) const { return tensors.count(key) > 0; }
  double scalar(const std::string& key) const {
    auto it = scalars.find(key);
    if (it == scalars.end()) raise<KeyError>("fixture case ", name, " has no scalar '", key, "'");
    return std::strtod(it->second.c_str(), nullptr);
  }
};

inline std::string fixture_path(const std::string& relative) { return std::string(DESCENT_FIXTURE_DIR) + "/" + relative; }

inline Dtype parse_dtype(const std::string& s) {
  static const std::map<std::string, Dtype> names{{"float32", kFloat32}, {"float64", kFloat64}, {"float16", kFloat16},
                                                  {"bfloat16", kBFloat16}, {"complex64", kComplex64},
                                                  {"complex128", kComplex128}, {"int64", kInt64}, {"bool", kBool}};
  auto it = names.find(s);
  if (it == names.end()) raise<ValueError>("fixture: unknown dtype ", s);
  return it->second;
}

inline Tensor parse_tensor(std::istringstream& in) {
  std::string dtype_name;
  int64_t ndim = 0;
  in >> dtype_name >> ndim;
  Dtype dtype = parse_dtype(dtype_name);
  Shape shape(static_cast<std::size_t>(ndim));
  for (auto& s : shape) in >> s;
  int64_t n = numel_of(shape);
  std::string token;
  if (is_complex(dtype)) {
    std::vector<std::complex<double>> v;
    for (int64_t i = 0; i < n; ++i) {
      std::string re, im;
      in >> re >> im;
      v.emplace_back(std::strtod(re.c_str(), nullptr), std::strtod(im.c_str(), nullptr));
    }
    return tensor(v, shape).to(dtype);
  }
  if (is_floating_point(dtype)) {
    std::vector<double> v;
    for (int64_t i = 0; i < n && in >> token; ++i) v.push_back(std::strtod(token.c_str(), nullptr));
    return tensor(v, shape).to(dtype);
  }
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n && in >> token; ++i) v.push_back(std::strtoll(token.c_str(), nullptr, 10));
  return tensor(v, shape).to(dtype);
}

inline std::vector<FixtureCase> load_fixture(const std::string& relative) {
  std::ifstream file(fixture_path(relative));
  if (!file) raise<ValueError>("cannot open fixture ", fixture_path(relative), " (run scripts/fixtures/*.py)");
  std::vector<FixtureCase> cases;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "case") {
      cases.emplace_back();
      in >> cases.back().name;
    } else if (kind == "config") {
      std::string kv;
      while (in >> kv) {
        auto eq = kv.find('=');
        cases.back().config.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
      }
    } else if (kind == "tensor") {
      std::string key;
      in >> key;
      cases.back().tensors[key] = parse_tensor(in);
    } else if (kind == "scalar") {
      std::string key, value;
      in >> key >> value;
      cases.back().scalars[key] = value;
    }
  }
  return cases;
}

// max |a - b| <= atol + rtol * |b| elementwise, with a readable failure message.
inline std::string compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.sizes() != expected.sizes())
    return "shape " + shape_to_string(actual.sizes()) + " != " + shape_to_string(expected.sizes());
  Tensor a = actual.is_complex() ? view_as_real(actual) : actual;
  Tensor e = expected.is_complex() ? view_as_real(expected) : expected;
  auto av = a.to_vector<double>(), ev = e.to_vector<double>();
  for (std::size_t i = 0; i < av.size(); ++i) {
    double diff = std::abs(av[i] - ev[i]);
    bool both_nan = std::isnan(av[i]) && std::isnan(ev[i]);
    if (!both_nan && !(diff <= atol + rtol * std::abs(ev[i])) && av[i] != ev[i]) {
      std::ostringstream out;
      out.precision(17);
      out << "element " << i << ": " << av[i] << " vs expected " << ev[i] << " (diff " << diff << ")";
      return out.str();
    }
  }
  return "";
}

}  // namespace descent::testing
