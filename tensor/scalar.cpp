// Scalar helpers and Python-compatible number formatting.
#include "descent/tensor/scalar.h"

#include <ostream>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace descent {

std::string format_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's repr layout: fixed for
  // exponents in [-4, 16), otherwise d.ddde+XX.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp = std::atoi(sci.c_str() + e + 1);
  bool negative = mant[0] == '-';
  if (negative) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out = digits + std::string(static_cast<std::size_t>(exp + 1 - static_cast<int>(digits.size())), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<std::size_t>(exp + 1)) + "." + digits.substr(static_cast<std::size_t>(exp + 1));
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return negative ? "-" + out : out;
}

Dtype Scalar::default_dtype() const {
  switch (category_) {
    case DtypeCategory::Bool: return kBool;
    case DtypeCategory::Integral: return kInt64;
    case DtypeCategory::Floating: return get_default_dtype();
    case DtypeCategory::Complex: break;
  }
  return to_complex_dtype(get_default_dtype());
}

std::ostream& operator<<(std::ostream& out, const Scalar& scalar) { return out << scalar.str(); }

std::string Scalar::str() const {
  switch (category_) {
    case DtypeCategory::Bool: return int_ ? "True" : "False";
    case DtypeCategory::Integral: return std::to_string(int_);
    case DtypeCategory::Floating: return format_double(value_.real());
    case DtypeCategory::Complex: break;
  }
  // Python: (1+2j); a zero real part prints as 2j.
  auto part = [](double v) {
    std::string s = format_double(v);
    if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
    return s;
  };
  if (value_.real() == 0 && !std::signbit(value_.real())) return part(value_.imag()) + "j";
  std::string imag = part(value_.imag());
  if (imag[0] != '-') imag = "+" + imag;
  return "(" + part(value_.real()) + imag + "j)";
}

}  // namespace descent
