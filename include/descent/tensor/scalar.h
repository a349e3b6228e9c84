#pragma once
// A number argument (PyTorch's Scalar / a Python number): remembers whether it
// was given as bool, integer, floating or complex, because type promotion
// looks only at that category for wrapped numbers.
#include <complex>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <type_traits>
#include <utility>

#include "descent/devices/dtype.h"
#include "descent/error.h"

namespace descent {

// The C++ number types a Scalar or Value converts to implicitly
// (`double lr = group["lr"];`): bool, floating and integer types, not characters.
template <class T>
concept Number = std::is_same_v<T, bool> || std::is_floating_point_v<T> ||
                 (std::is_integral_v<T> && !std::is_same_v<T, char> && !std::is_same_v<T, wchar_t> &&
                  !std::is_same_v<T, char8_t> && !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t>);

namespace detail {
// i as T, or ValueError when it does not fit.
template <class T>
T fit_integer(int64_t i, const char* what) {
  if (!std::in_range<T>(i)) raise<ValueError>(what, ": ", i, " does not fit the requested integer type");
  return static_cast<T>(i);
}
}  // namespace detail

/// A number of any dtype (bool, integer, floating, complex) kept exactly as given; what tensor ops take where PyTorch takes a Python number.
class Scalar {
 public:
  Scalar() : Scalar(int64_t{0}) {}
  Scalar(bool v) : value_(v ? 1.0 : 0.0), int_(v), category_(DtypeCategory::Bool) {}
  template <typename I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  Scalar(I v) : value_(static_cast<double>(v)), int_(static_cast<int64_t>(v)), category_(DtypeCategory::Integral) {}
  Scalar(float v) : value_(static_cast<double>(v)), int_(0), category_(DtypeCategory::Floating) {}
  Scalar(double v) : value_(v), int_(0), category_(DtypeCategory::Floating) {}
  Scalar(Half v) : Scalar(static_cast<double>(static_cast<float>(v))) {}
  Scalar(BFloat16 v) : Scalar(static_cast<double>(static_cast<float>(v))) {}
  template <typename F>
  Scalar(std::complex<F> v) : value_(static_cast<double>(v.real()), static_cast<double>(v.imag())), int_(0),
                              category_(DtypeCategory::Complex) {}

  DtypeCategory category() const { return category_; }
  bool is_complex() const { return category_ == DtypeCategory::Complex; }
  bool is_floating_point() const { return category_ == DtypeCategory::Floating; }
  bool is_integral(bool include_bool) const {
    return category_ == DtypeCategory::Integral || (include_bool && category_ == DtypeCategory::Bool);
  }
  bool is_bool() const { return category_ == DtypeCategory::Bool; }

  double to_double() const { return value_.real(); }
  int64_t to_long() const { return category_ == DtypeCategory::Integral || category_ == DtypeCategory::Bool ? int_ : static_cast<int64_t>(value_.real()); }
  bool to_bool() const { return value_ != std::complex<double>(0.0, 0.0); }
  std::complex<double> to_complex() const { return value_; }
  template <typename T>
  T to() const;
  // `double loss = t.item();`: floating types read the value (TypeError for a
  // complex number), bool its truth, integer types an integral or bool number
  // (TypeError for a floating one: say to<int64_t>() to truncate).
  template <Number T>
  operator T() const {
    if constexpr (std::is_same_v<T, bool>) {
      return to_bool();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (is_complex()) raise<TypeError>("Scalar: cannot convert the complex number ", str(), " to a real number");
      return static_cast<T>(to_double());
    } else {
      if (!is_integral(true))
        raise<TypeError>("Scalar: cannot convert the ", is_complex() ? "complex" : "floating point", " number ",
                         str(), " to an integer implicitly (to<int64_t>() truncates)");
      return detail::fit_integer<T>(to_long(), "Scalar");
    }
  }

  // The dtype PyTorch gives this number as a 0-dim tensor (torch.tensor(x)).
  Dtype default_dtype() const;
  // Python's str() of the number: "0.1", "1e-08", "3", "True", "(1+2j)".
  std::string str() const;

 private:
  std::complex<double> value_;
  int64_t int_;
  DtypeCategory category_;
};

template <> inline double Scalar::to<double>() const { return to_double(); }
template <> inline float Scalar::to<float>() const { return static_cast<float>(to_double()); }
template <> inline int64_t Scalar::to<int64_t>() const { return to_long(); }
template <> inline bool Scalar::to<bool>() const { return to_bool(); }
template <> inline std::complex<double> Scalar::to<std::complex<double>>() const { return value_; }
template <> inline std::complex<float> Scalar::to<std::complex<float>>() const {
  return {static_cast<float>(value_.real()), static_cast<float>(value_.imag())};
}

// Python's repr of a float: shortest round-trip digits, "1e-08", "inf", "nan".
std::string format_double(double value);

// Prints str() (Python's repr: `0.5`, `3`, `True`).
std::ostream& operator<<(std::ostream& out, const Scalar& scalar);

}  // namespace descent
