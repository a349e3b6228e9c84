#pragma once
// A number as the Python code of torch.optim.lbfgs holds it: a Python int,
// a Python float, or a 0-dim tensor (dot products, ‖g‖₁, a tensor lr and
// whatever is computed from them). Its arithmetic is Python's and PyTorch's:
// int op int stays int, a number meeting a tensor is rounded to the
// tensor's dtype first, number / tensor is reciprocal(tensor) · number, and
// min/max return one of their arguments unchanged. The line search compares
// and interpolates such mixtures, so float32 runs branch exactly where
// PyTorch's do only with this bookkeeping. Private to optim/.
#include <cstdint>
#include <variant>

#include "descent/optim/value.h"
#include "descent/tensor/tensor.h"

namespace descent::optim::detail {

class PyNumber {
 public:
  PyNumber(int v) : v_(static_cast<int64_t>(v)) {}
  PyNumber(int64_t v) : v_(v) {}
  PyNumber(double v) : v_(v) {}
  // A one-element tensor (not copied).
  explicit PyNumber(Tensor v);
  // An int, float or tensor state entry; TypeError naming `what` otherwise.
  static PyNumber from_value(const Value& value, const char* what);

  bool is_tensor() const { return std::holds_alternative<Tensor>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  const Tensor& tensor() const { return std::get<Tensor>(v_); }
  // float(x).
  double to_double() const;
  // As an op's scalar argument (alpha=x): a tensor gives its item().
  Scalar scalar() const;
  // As a state entry: int, float or tensor, as PyTorch stores it.
  Value to_value() const;

  PyNumber operator-() const;
  friend PyNumber operator+(const PyNumber& a, const PyNumber& b);
  friend PyNumber operator-(const PyNumber& a, const PyNumber& b);
  friend PyNumber operator*(const PyNumber& a, const PyNumber& b);
  friend PyNumber operator/(const PyNumber& a, const PyNumber& b);
  friend bool operator<(const PyNumber& a, const PyNumber& b);
  friend bool operator<=(const PyNumber& a, const PyNumber& b);
  friend bool operator>(const PyNumber& a, const PyNumber& b) { return b < a; }
  friend bool operator>=(const PyNumber& a, const PyNumber& b) { return b <= a; }

 private:
  std::variant<int64_t, double, Tensor> v_;
};

PyNumber abs(const PyNumber& x);
PyNumber sqrt(const PyNumber& x);
// Python's min(a, b) / max(a, b): b only when strictly smaller / larger.
inline PyNumber py_min(const PyNumber& a, const PyNumber& b) { return b < a ? b : a; }
inline PyNumber py_max(const PyNumber& a, const PyNumber& b) { return b > a ? b : a; }
// tensor.mul(x): elementwise by a number or a 0-dim tensor.
Tensor mul(const Tensor& t, const PyNumber& x);

}  // namespace descent::optim::detail
