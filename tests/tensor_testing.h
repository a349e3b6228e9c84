#pragma once
// Helpers shared by the tensor-core suites (tests/test_tensor_*.cpp): reading
// the case options written by scripts/fixtures/tensor_ops.py and comparing
// tensors bit for bit or within a tolerance.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "fixtures.h"

namespace descent::testing {

inline bool has_config(const FixtureCase& c, const std::string& key) {
  for (const auto& [k, v] : c.config)
    if (k == key) return true;
  return false;
}

inline std::string config(const FixtureCase& c, const std::string& key, const std::string& fallback = "") {
  for (const auto& [k, v] : c.config)
    if (k == key) return v;
  return fallback;
}

inline int64_t config_int(const FixtureCase& c, const std::string& key, int64_t fallback = 0) {
  std::string v = config(c, key);
  return v.empty() ? fallback : std::stoll(v);
}

inline double config_double(const FixtureCase& c, const std::string& key) {
  std::string v = config(c, key);
  if (v == "inf") return INFINITY;
  if (v == "-inf") return -INFINITY;
  return std::strtod(v.c_str(), nullptr);
}

// "0,2" -> {0, 2}; "" -> {}.
inline Shape parse_list(const std::string& s) {
  Shape out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    out.push_back(std::stoll(s.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return out;
}

inline bool has_number(const FixtureCase& c, const std::string& key) { return has_config(c, key + "_kind"); }

// A number operand with its Python category (bool, int, float or complex).
inline Scalar number(const FixtureCase& c, const std::string& key) {
  std::string kind = config(c, key + "_kind");
  const std::string& text = c.scalars.at(key);
  if (kind == "bool") return Scalar(std::stoll(text) != 0);
  if (kind == "int") return Scalar(static_cast<int64_t>(std::stoll(text)));
  if (kind == "complex") return Scalar(std::complex<double>(c.scalar(key), c.scalar(key + "_im")));
  if (kind == "float") return Scalar(c.scalar(key));
  raise<KeyError>("fixture case ", c.name, " has no number '", key, "'");
}

// The tensor_ops.py escaping of repr strings: \\ \s \n.
inline std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char n = s[++i];
    out += n == 's' ? ' ' : n == 'n' ? '\n' : n;
  }
  return out;
}

// Restores the default dtype when a test that changes it ends, even by a failed REQUIRE.
struct DefaultDtypeGuard {
  Dtype saved = get_default_dtype();
  ~DefaultDtypeGuard() { set_default_dtype(saved); }
};

struct Tolerance {
  double rtol = 0.0, atol = 0.0;
  bool signed_zero = true;  // exact comparisons tell -0.0 from 0.0
  bool exact() const { return rtol == 0.0 && atol == 0.0; }
};

// "" when actual matches expected: same shape and dtype, and every element
// (real and imaginary parts apart) bit-equal when the tolerance is exact
// (NaN matches NaN, -0.0 does not match 0.0), else |a - e| <= atol + rtol |e|
// with infinities equal.
inline std::string mismatch(const Tensor& actual, const Tensor& expected, Tolerance tol = {}) {
  if (!actual.defined()) return "undefined result";
  if (actual.sizes() != expected.sizes())
    return "shape " + shape_to_string(actual.sizes()) + " != expected " + shape_to_string(expected.sizes());
  if (actual.dtype() != expected.dtype())
    return "dtype " + to_string(actual.dtype()) + " != expected " + to_string(expected.dtype());
  Tensor a = actual.is_complex() ? view_as_real(actual.to_dense()) : actual.to_dense();
  Tensor e = expected.is_complex() ? view_as_real(expected) : expected;
  auto av = a.to_vector<double>(), ev = e.to_vector<double>();
  if (actual.dtype() == kInt64) {
    auto ai = a.to_vector<int64_t>(), ei = e.to_vector<int64_t>();
    for (std::size_t i = 0; i < ai.size(); ++i)
      if (ai[i] != ei[i])
        return "element " + std::to_string(i) + ": " + std::to_string(ai[i]) + " vs expected " + std::to_string(ei[i]);
    return "";
  }
  for (std::size_t i = 0; i < av.size(); ++i) {
    double x = av[i], y = ev[i];
    bool ok;
    if (std::isnan(y) || std::isnan(x)) {
      ok = std::isnan(x) && std::isnan(y);
    } else if (tol.exact() || std::isinf(y)) {
      ok = x == y && (!tol.signed_zero || std::signbit(x) == std::signbit(y));
    } else {
      ok = std::abs(x - y) <= tol.atol + tol.rtol * std::abs(y);
    }
    if (!ok) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "element %zu: %a (%.17g) vs expected %a (%.17g)", i, x, x, y, y);
      return buf;
    }
  }
  return "";
}

}  // namespace descent::testing
