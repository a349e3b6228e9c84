#pragma once
// The numbers a schedule computes with. A param group's lr (and momentum,
// swa_lr, max_lr, ...) is a Python float or a tensor; PyTorch's schedulers
// evaluate their formulas with Python operators, so a float stays a float
// and anything touching a tensor becomes a tensor op (rounded in the tensor's
// dtype). LrValue reproduces that: write the formula in PyTorch's operand
// order and the result rounds exactly as PyTorch's does.
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "descent/optim/value.h"
#include "descent/tensor/tensor.h"

namespace descent::optim {
class Optimizer;
struct ParamGroup;
}  // namespace descent::optim

namespace descent::optim::lr {

/// A learning rate that is a number or a one-element tensor (a tensor lr is updated in place, keeping its identity).
class LrValue {
 public:
  LrValue(double value) : number_(value) {}
  LrValue(int value) : number_(value) {}
  LrValue(int64_t value) : number_(static_cast<double>(value)) {}
  LrValue(Tensor tensor) : tensor_(std::move(tensor)) {}
  // A number (int, float, bool) or a one-element tensor; anything else is a TypeError.
  LrValue(const Value& value);

  bool is_tensor() const { return tensor_.defined(); }
  // float(x): the number, or the tensor's single element.
  double to_double() const;
  Value to_value() const;

  friend LrValue operator+(const LrValue& a, const LrValue& b);
  friend LrValue operator-(const LrValue& a, const LrValue& b);
  friend LrValue operator*(const LrValue& a, const LrValue& b);
  // number / tensor is Python's Tensor.__rtruediv__: reciprocal() * number;
  // number / 0.0 raises as divide() does.
  friend LrValue operator/(const LrValue& a, const LrValue& b);

 private:
  double number_ = 0.0;
  Tensor tensor_;
};

// Python's arithmetic where C++'s differs: float division by zero raises
// (ZeroDivisionError in Python, ValueError here, naming `what`) instead of
// producing inf/nan, and // and % round toward negative infinity.
double divide(double a, double b, const char* what);
int64_t floor_div(int64_t a, int64_t b, const char* what);
int64_t floor_mod(int64_t a, int64_t b, const char* what);

/// A hyper-parameter given once for all param groups or once per group
/// (PyTorch's "float or list" arguments such as CyclicLR's base_lr).
struct PerGroup {
  PerGroup(double value) : values{Value(value)} {}
  PerGroup(int value) : values{Value(static_cast<double>(value))} {}
  PerGroup(Tensor value) : values{Value(std::move(value))} {}
  PerGroup(std::initializer_list<double> list);
  PerGroup(std::vector<Value> list) : values(std::move(list)), is_list(true) {}

  std::vector<Value> values;
  bool is_list = false;
};

// PyTorch's _format_param: one value per group (tensors cloned); a list of the
// wrong length is a ValueError naming the argument.
std::vector<Value> format_param(const std::string& name, const Optimizer& optimizer, const PerGroup& param);

// group[key] for every group, tensors cloned so the copies never alias the groups.
std::vector<Value> param_groups_values(const Optimizer& optimizer, const std::string& key);

// Writes a value into group[key]: a tensor entry is filled in place (its
// identity and dtype survive), anything else is replaced.
void update_param_group_value(ParamGroup& group, const std::string& key, const Value& value);

}  // namespace descent::optim::lr
