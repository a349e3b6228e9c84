#include "optim/py_number.h"

#include <cmath>

#include "descent/error.h"
#include "descent/tensor/ops.h"

namespace descent::optim::detail {

PyNumber::PyNumber(Tensor v) : v_(std::move(v)) {
  if (tensor().numel() != 1)
    raise<ValueError>("LBFGS: a number held as a tensor must have one element, got ", tensor().numel());
}

PyNumber PyNumber::from_value(const Value& value, const char* what) {
  if (value.is_tensor()) {
    if (!value.to_tensor().defined()) raise<RuntimeError>("LBFGS: state '", what, "' is an undefined Tensor");
    return PyNumber(value.to_tensor());
  }
  if (value.is_int()) return PyNumber(value.to_int());
  if (value.is_double()) return PyNumber(value.to_double());
  raise<TypeError>("LBFGS: state '", what, "' must be a number or a one-element Tensor, got ", value.type_name());
}

double PyNumber::to_double() const {
  if (is_tensor()) return tensor().item<double>();
  if (is_int()) return static_cast<double>(std::get<int64_t>(v_));
  return std::get<double>(v_);
}

Scalar PyNumber::scalar() const {
  if (is_tensor()) return tensor().item();
  if (is_int()) return Scalar(std::get<int64_t>(v_));
  return Scalar(std::get<double>(v_));
}

Value PyNumber::to_value() const {
  if (is_tensor()) return tensor();
  if (is_int()) return std::get<int64_t>(v_);
  return std::get<double>(v_);
}

PyNumber PyNumber::operator-() const {
  if (is_tensor()) return PyNumber(neg(tensor()));
  if (is_int()) return PyNumber(-std::get<int64_t>(v_));
  return PyNumber(-std::get<double>(v_));
}

// With a tensor on either side the tensor's own operators apply: they round
// the number to the tensor's dtype and promote 0-dim tensors as PyTorch does
// (number - tensor is rsub, number / tensor is reciprocal · number).
PyNumber operator+(const PyNumber& a, const PyNumber& b) {
  if (a.is_tensor()) return PyNumber(b.is_tensor() ? a.tensor() + b.tensor() : a.tensor() + b.scalar());
  if (b.is_tensor()) return PyNumber(a.scalar() + b.tensor());
  if (a.is_int() && b.is_int()) return PyNumber(std::get<int64_t>(a.v_) + std::get<int64_t>(b.v_));
  return PyNumber(a.to_double() + b.to_double());
}

PyNumber operator-(const PyNumber& a, const PyNumber& b) {
  if (a.is_tensor()) return PyNumber(b.is_tensor() ? a.tensor() - b.tensor() : a.tensor() - b.scalar());
  if (b.is_tensor()) return PyNumber(a.scalar() - b.tensor());
  if (a.is_int() && b.is_int()) return PyNumber(std::get<int64_t>(a.v_) - std::get<int64_t>(b.v_));
  return PyNumber(a.to_double() - b.to_double());
}

PyNumber operator*(const PyNumber& a, const PyNumber& b) {
  if (a.is_tensor()) return PyNumber(b.is_tensor() ? a.tensor() * b.tensor() : a.tensor() * b.scalar());
  if (b.is_tensor()) return PyNumber(a.scalar() * b.tensor());
  if (a.is_int() && b.is_int()) return PyNumber(std::get<int64_t>(a.v_) * std::get<int64_t>(b.v_));
  return PyNumber(a.to_double() * b.to_double());
}

// Python's true division: int / int is a float. A zero divisor divides as
// IEEE doubles do (Python would raise ZeroDivisionError; PyTorch's line
// search never divides by a Python zero).
PyNumber operator/(const PyNumber& a, const PyNumber& b) {
  if (a.is_tensor()) return PyNumber(b.is_tensor() ? a.tensor() / b.tensor() : a.tensor() / b.scalar());
  if (b.is_tensor()) return PyNumber(a.scalar() / b.tensor());
  return PyNumber(a.to_double() / b.to_double());
}

// a < b with a tensor on the right is Python's reflected b > a.
bool operator<(const PyNumber& a, const PyNumber& b) {
  if (a.is_tensor()) return (b.is_tensor() ? a.tensor().lt(b.tensor()) : a.tensor().lt(b.scalar())).item<bool>();
  if (b.is_tensor()) return b.tensor().gt(a.scalar()).item<bool>();
  if (a.is_int() && b.is_int()) return std::get<int64_t>(a.v_) < std::get<int64_t>(b.v_);
  return a.to_double() < b.to_double();
}

bool operator<=(const PyNumber& a, const PyNumber& b) {
  if (a.is_tensor()) return (b.is_tensor() ? a.tensor().le(b.tensor()) : a.tensor().le(b.scalar())).item<bool>();
  if (b.is_tensor()) return b.tensor().ge(a.scalar()).item<bool>();
  if (a.is_int() && b.is_int()) return std::get<int64_t>(a.v_) <= std::get<int64_t>(b.v_);
  return a.to_double() <= b.to_double();
}

PyNumber abs(const PyNumber& x) {
  if (x.is_tensor()) return PyNumber(x.tensor().abs());
  if (x.is_int()) return PyNumber(static_cast<int64_t>(std::llabs(x.scalar().to<int64_t>())));
  return PyNumber(std::abs(x.to_double()));
}

PyNumber sqrt(const PyNumber& x) {
  if (x.is_tensor()) return PyNumber(x.tensor().sqrt());
  return PyNumber(std::sqrt(x.to_double()));
}

Tensor mul(const Tensor& t, const PyNumber& x) { return x.is_tensor() ? t.mul(x.tensor()) : t.mul(x.scalar()); }

}  // namespace descent::optim::detail
